# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_cni/cache: the libcni cniCacheV1 format, file modes, lookups by fields."""
from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from ansible_collections.podnet.cni.plugins.module_utils._cni import cache
from ansible_collections.podnet.cni.plugins.module_utils._errors import StateError

CONFIG = b'{"cniVersion":"1.0.0","name":"pnf-net","plugins":[{"type":"bridge"}]}'
RESULT = {"cniVersion": "1.0.0", "ips": [{"address": "10.220.3.5/24"}]}


def entry(network="pnf-net", cid="pnf-c1", ifname="eth0", **kw):
    kw.setdefault("netns", "/run/netns/pnf-c1")
    kw.setdefault("config", CONFIG)
    kw.setdefault("cni_args", [("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web")])
    kw.setdefault("capability_args", {"portMappings": [{"hostPort": 8080, "containerPort": 80,
                                                        "protocol": "tcp"}]})
    kw.setdefault("result", RESULT)
    return cache.CacheEntry(network, cid, ifname, **kw)


def test_json_format():
    assert entry().to_json() == {
        "kind": "cniCacheV1",
        "containerId": "pnf-c1",
        "config": base64.b64encode(CONFIG).decode(),
        "ifName": "eth0",
        "networkName": "pnf-net",
        "netns": "/run/netns/pnf-c1",
        "cniArgs": [["IgnoreUnknown", "1"], ["K8S_POD_NAME", "web"]],
        "capabilityArgs": {"portMappings": [{"hostPort": 8080, "containerPort": 80,
                                             "protocol": "tcp"}]},
        "result": RESULT,
    }


def test_json_omits_empty_fields_like_libcni():
    data = cache.CacheEntry("n", "c", "eth0", config=CONFIG).to_json()
    assert set(data) == {"kind", "containerId", "config", "ifName", "networkName"}


def test_write_path_and_modes(tmp_path):
    cache_dir = str(tmp_path / "cni")
    path = cache.write(cache_dir, entry())
    assert path == os.path.join(cache_dir, "results", "pnf-net-pnf-c1-eth0")
    assert stat.S_IMODE(os.stat(os.path.join(cache_dir, "results")).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        data = json.load(f)
    assert data["kind"] == "cniCacheV1"
    assert base64.b64decode(data["config"]) == CONFIG
    assert os.listdir(os.path.join(cache_dir, "results")) == ["pnf-net-pnf-c1-eth0"]


def test_read_round_trip(tmp_path):
    cache.write(str(tmp_path), entry())
    got = cache.read(str(tmp_path), "pnf-net", "pnf-c1", "eth0")
    assert got.key == ("pnf-net", "pnf-c1", "eth0")
    assert got.config == CONFIG
    assert got.cni_args == [["IgnoreUnknown", "1"], ["K8S_POD_NAME", "web"]]
    assert got.arg("K8S_POD_NAME") == "web"
    assert got.arg("IP") is None
    assert got.result == RESULT
    assert got.to_json() == entry().to_json()
    assert cache.read(str(tmp_path), "pnf-net", "pnf-c1", "eth1") is None


def test_reads_an_entry_libcni_wrote(tmp_path):
    # as libcni 1.1 writes it (Go: []byte → base64, [][2]string → pairs)
    raw = ('{"kind":"cniCacheV1","containerId":"cnitool-0123","config":"%s","ifName":"eth0",'
           '"networkName":"pnf-net","cniArgs":[["IgnoreUnknown","1"]],"capabilityArgs":'
           '{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]},"result":'
           '{"cniVersion":"1.0.0","ips":[{"address":"10.220.3.9/24"}]}}'
           % base64.b64encode(CONFIG).decode())
    os.makedirs(str(tmp_path / "results"))
    (tmp_path / "results" / "pnf-net-cnitool-0123-eth0").write_text(raw)
    got = cache.read(str(tmp_path), "pnf-net", "cnitool-0123", "eth0")
    assert got.netns == ""
    assert got.capability_args["portMappings"][0]["hostPort"] == 8080
    assert got.config == CONFIG


def test_file_name_collision_is_resolved_by_fields(tmp_path):
    # network "pnf-a" + container "b" and network "pnf" + container "a-b" share a file name
    cache.write(str(tmp_path), entry("pnf-a", "b"))
    assert cache.entry_path(str(tmp_path), "pnf", "a-b", "eth0") == \
        cache.entry_path(str(tmp_path), "pnf-a", "b", "eth0")
    assert cache.read(str(tmp_path), "pnf", "a-b", "eth0") is None
    assert cache.read(str(tmp_path), "pnf-a", "b", "eth0") is not None


def test_list_by_fields_with_dashes(tmp_path):
    d = str(tmp_path)
    cache.write(d, entry("pnf-net-1", "pnf-c1", "eth0"))
    cache.write(d, entry("pnf-net-2", "pnf-c1", "eth1"))
    cache.write(d, entry("pnf-net-1", "c1", "eth0"))          # "c1" is inside "pnf-c1"
    cache.write(d, entry("pnf-c1", "c1-x", "eth0"))           # the id appears as a network

    def keys(es):
        return sorted(e.key for e in es)

    assert keys(cache.list_entries(d, container_id="pnf-c1")) == [
        ("pnf-net-1", "pnf-c1", "eth0"), ("pnf-net-2", "pnf-c1", "eth1")]
    assert keys(cache.list_entries(d, container_id="c1")) == [("pnf-net-1", "c1", "eth0")]
    assert keys(cache.list_entries(d, network="pnf-net-1")) == [
        ("pnf-net-1", "c1", "eth0"), ("pnf-net-1", "pnf-c1", "eth0")]
    assert keys(cache.list_entries(d, container_id="pnf-c1", network="pnf-net-2")) == [
        ("pnf-net-2", "pnf-c1", "eth1")]
    assert len(cache.list_entries(d)) == 4
    assert all(e.path.startswith(os.path.join(d, "results")) for e in cache.list_entries(d))


@pytest.mark.parametrize("name,content,reason", [
    ("pnf-junk-pnf-c1-eth0", "not json", "corrupt JSON"),
    ("pnf-trunc-pnf-c1-eth0", '{"kind":"cniCacheV1","containerId":"pnf-c1","conf', "corrupt JSON"),
    ("pnf-other-pnf-c1-eth0", '{"kind":"cniCacheV2","containerId":"pnf-c1"}', "not a libcni cache entry"),
    ("pnf-list-pnf-c1-eth0", "[1,2]", "not a JSON object"),
    ("pnf-deep-pnf-c1-eth0", "[" * 100000, "nested too deeply"),
])
def test_scan_reports_what_is_not_an_entry(tmp_path, name, content, reason):
    """Never skipped silently: listed apart, with the file and the reason."""
    cache.write(str(tmp_path), entry())
    (tmp_path / "results" / name).write_text(content)
    os.chmod(str(tmp_path / "results" / name), 0o600)
    entries, bad = cache.scan(str(tmp_path), container_id="pnf-c1")
    assert [e.key for e in entries] == [("pnf-net", "pnf-c1", "eth0")]
    assert [u.name for u in bad] == [name]
    assert reason in bad[0].reason
    assert bad[0].may_belong_to("pnf-c1") and not bad[0].may_belong_to("pnf-c2")
    # the usable entries alone, for callers that only read
    assert [e.key for e in cache.list_entries(str(tmp_path), container_id="pnf-c1")] == [
        ("pnf-net", "pnf-c1", "eth0")]


def test_scan_ignores_our_own_temp_files(tmp_path):
    cache.write(str(tmp_path), entry())
    (tmp_path / "results" / "pnf-net-pnf-c1-eth0.tmp.123").write_text("")
    entries, bad = cache.scan(str(tmp_path))
    assert [e.key for e in entries] == [("pnf-net", "pnf-c1", "eth0")] and bad == []


def test_read_raises_for_an_unusable_file_of_the_key(tmp_path):
    """An unusable file is never taken for "no entry" (it may be a live attachment's)."""
    cache.write(str(tmp_path), entry())
    path = cache.entry_path(str(tmp_path), "pnf-net", "pnf-c1", "eth0")
    with open(path, "w") as f:
        f.write('{"kind": "cniCacheV1", "containerId": "pnf-c1", "ifName": "eth0", '
                '"networkName": "pnf-net", "result": "garbage"}')
    with pytest.raises(StateError, match="pnf-net-pnf-c1-eth0") as err:
        cache.read(str(tmp_path), "pnf-net", "pnf-c1", "eth0")
    assert "result" in err.value.details["reason"]


def test_list_missing_dir(tmp_path):
    assert cache.list_entries(str(tmp_path / "none")) == []


def test_delete(tmp_path):
    cache.write(str(tmp_path), entry())
    assert cache.delete(str(tmp_path), "pnf-net", "pnf-c1", "eth0") is True
    assert cache.delete(str(tmp_path), "pnf-net", "pnf-c1", "eth0") is False
    assert cache.list_entries(str(tmp_path)) == []


def test_symlinks_are_not_followed(tmp_path):
    d = str(tmp_path / "cache")
    cache.write(d, entry())
    target = str(tmp_path / "elsewhere")
    os.rename(cache.entry_path(d, "pnf-net", "pnf-c1", "eth0"), target)
    os.symlink(target, cache.entry_path(d, "pnf-net", "pnf-c1", "eth0"))
    with pytest.raises(StateError, match="symlink"):
        cache.read(d, "pnf-net", "pnf-c1", "eth0")
    assert cache.list_entries(d) == []
    assert [(u.name, u.reason) for u in cache.scan(d)[1]] == [("pnf-net-pnf-c1-eth0", "it is a symlink")]
    with pytest.raises(StateError, match="symlink"):
        cache.write(d, entry())


def _pm_entry(cache_dir, net, cid, *ports):
    caps = {"portMappings": [{"hostPort": p, "containerPort": 80, "protocol": proto, "hostIP": hip}
                             for p, proto, hip in ports]} if ports else {}
    entry = cache.CacheEntry(net, cid, "eth0", "/run/netns/" + cid, b"{}", [], caps, {})
    cache.write(cache_dir, entry)
    return entry


def test_view_reads_once_and_indexes_host_ports(tmp_path):
    d = str(tmp_path)
    _pm_entry(d, "n1", "a", (8080, "tcp", ""), (53, "udp", ""))
    _pm_entry(d, "n1", "b", (8080, "tcp", "127.0.0.1"))
    _pm_entry(d, "n2", "c")
    view = cache.CacheView(d, ["a", "c", "x"])
    assert [e.container_id for e in view.container_entries("a")] == ["a"]
    assert view.container_entries("x") == []
    assert [e.container_id for e in view.container_entries("b")] == ["b"]  # not in the batch: read now
    holders = view.port_holders([{"hostPort": 8080, "containerPort": 1, "protocol": "tcp"},
                                 {"hostPort": 53, "containerPort": 1, "protocol": "udp"}])
    assert sorted(e.container_id for e in holders) == ["a", "b"]  # each once
    assert view.port_holders([{"hostPort": 8080, "containerPort": 1, "protocol": "udp"}]) == []
    assert view.port_holders([]) == []
    one = cache.CacheView(d, ["c"])  # one container: only its own files until all are asked for
    assert one._all is None and [e.network for e in one.container_entries("c")] == ["n2"]
    assert len(one.all_entries()[0]) == 3
