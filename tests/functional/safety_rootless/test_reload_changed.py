# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_net_reload reports ``changed`` whenever it changed something, also when
another container failed (issue 15, item 11). Rootless, so the reload runs in the user's
own CNI namespace and never touches the machine's rules."""
from __future__ import annotations

import base64
import json
import os
import secrets

import pnq_env as E

TAG = secrets.token_hex(2)
NET = "pnq%srl" % TAG
GOOD = "pnq%sgood" % TAG
BAD = "pnq%sbad" % TAG


def _break_cached_config(user, cid):
    """Make the cached conflist of cid fail on ADD (tuning refuses an unknown sysctl; its
    DEL does nothing), as a network edited into something broken would."""
    results = os.path.join(E.rootless_paths(user)["cache"], "results")
    for name in os.listdir(results):
        path = os.path.join(results, name)
        with open(path) as f:
            data = json.load(f)
        if data.get("containerId") != cid:
            continue
        conf = json.loads(base64.b64decode(data["config"]))
        for plugin in conf["plugins"]:
            if plugin["type"] == "tuning":
                plugin["sysctl"] = {"net.ipv4.conf.eth0.pnq_no_such_sysctl": "1"}
        data["config"] = base64.b64encode(json.dumps(conf).encode()).decode()
        E.write_as(user, path, json.dumps(data).encode())
        return
    raise AssertionError("no cache entry of %s" % cid)


def test_failed_container_does_not_hide_the_reloaded_one(quser):
    conf_dir = E.user_conflist(quser, NET, 11)
    args = {"cni_config_dir": conf_dir}
    try:
        for cid in (GOOD, BAD):
            res = quser.direct("container_netns", dict(args, container_id=cid, networks=[NET]))
            assert res.get("changed") is True, res
        _break_cached_config(quser, BAD)
        res = quser.direct("container_net_reload", dict(args, containers=[GOOD, BAD], force=True))
        assert res.get("failed") is True, res
        assert BAD in res["msg"] and "unexpected error" not in res["msg"], res["msg"]
        assert res["containers"][GOOD]["reloaded"] == [NET], res["containers"]
        assert res["containers"][GOOD]["networks"][NET]["state"] == "reloaded"
        assert res["containers"][BAD]["networks"][NET]["state"] == "failed"
        # GOOD was reloaded (and BAD's attachment deleted and rolled back): a change
        assert res.get("changed") is True, res
        # only the failing container: its DEL ran before the ADD failed (it lost its
        # attachment), a change too
        res = quser.direct("container_netns", dict(args, container_id=BAD, networks=[NET]))
        assert res.get("changed") is True, res
        _break_cached_config(quser, BAD)
        res = quser.direct("container_net_reload", dict(args, containers=[BAD], force=True))
        assert res.get("failed") is True and res["changed"] is True, res
    finally:
        for cid in (GOOD, BAD):
            quser.direct("container_netns", dict(args, container_id=cid, state="absent"))
    assert quser.processes() == []
