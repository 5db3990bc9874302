# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unit tests' stand-in for the kernel when they plan containers: a HostContext whose
namespaces exist only in a table, and what execute() would leave behind (cache entries,
the record, the namespace) without running a plugin. tests/functional proves the same
plans against real namespaces and plugins."""
from __future__ import annotations

from ansible_collections.podnet.cni.plugins.module_utils import _attach, _state
from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext


class PlanContext(HostContext):
    """HostContext whose namespaces exist only in ``self.ns`` (path -> status)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ns = {}
        # the tests' pids (os.getpid()) stand for a container's process, so this process's
        # own namespace is not forbidden here (the tests of that reset it)
        self._forbidden = {}

    def netns_status(self, path):
        return self.ns.get(path, "absent")


def fake_result(spec, index=2):
    return {"cniVersion": "1.0.0",
            "interfaces": [{"name": "pnfbr0"}, {"name": "veth"},
                           {"name": spec.ifname, "mac": spec.mac or "0a:58:00:00:00:02",
                            "sandbox": "/ns"}],
            "ips": [{"address": "%s/24" % (spec.ips[0] if spec.ips else "10.220.1.2"),
                     "interface": index}]}


def apply(ctx, req, plan):
    """What execute() leaves behind, without plugins: cache entries, record, netns."""
    for step in plan.actions:
        if step["action"] in ("detach",):
            cnicache.delete(ctx.cache_dir, step["network"], req.container_id, step["interface"])
    ctx.ns[req.netns] = "mounted"
    for step in plan.actions:
        if step["action"] in ("attach", "reattach"):
            spec = next(s for s in plan.specs if (s.network, s.ifname) == (step["network"], step["interface"]))
            conf = ctx.get_network(spec.network)
            rt = _attach.runtime_conf(conf, spec, req.container_id, req.name, req.netns)
            cnicache.write(ctx.cache_dir, cnicache.CacheEntry(
                spec.network, req.container_id, spec.ifname, req.netns, conf.raw, rt.args,
                rt.capability_args, fake_result(spec)))
    _state.save(ctx.state_dir, plan.record)
