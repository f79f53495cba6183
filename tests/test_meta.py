"""META.json follows the PGXN Meta Spec 1.0.0 (https://pgxn.org/spec/) and
agrees with the control file and the Debian changelog."""
import json
import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd", "gfdl_1_2",
            "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0",
            "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay", "sun", "zlib",
            "open_source", "restricted", "unrestricted", "unknown"}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}


def read(name):
    with open(os.path.join(ROOT, name)) as f:
        return f.read()


def is_term(value):
    """A term: at least two characters, no white space, slash, backslash or colon."""
    return isinstance(value, str) and len(value) >= 2 and not re.search(r"[\s/\\:]", value)


def test_meta_json_follows_pgxn_meta_spec_1_0_0():
    meta = json.loads(read("META.json"))
    known = {"name", "version", "abstract", "maintainer", "license", "provides", "meta-spec", "description",
             "generated_by", "tags", "no_index", "prereqs", "release_status", "resources"}
    for key in ("name", "version", "abstract", "maintainer", "license", "provides", "meta-spec"):
        assert key in meta, "required key %s" % key
    assert not [k for k in meta if k not in known and not re.match(r"^[xX]_.", k)], "unknown keys"
    assert is_term(meta["name"])
    assert SEMVER.match(meta["version"])
    assert isinstance(meta["abstract"], str) and meta["abstract"]
    maintainers = meta["maintainer"] if isinstance(meta["maintainer"], list) else [meta["maintainer"]]
    assert maintainers and all(isinstance(m, str) and m for m in maintainers)
    licenses = meta["license"] if isinstance(meta["license"], list) else [meta["license"]]
    assert all(l in LICENSES for l in licenses if isinstance(l, str))
    assert meta["meta-spec"]["version"] == "1.0.0"
    assert meta["provides"]
    for name, extension in meta["provides"].items():
        assert is_term(name)
        assert set(extension) <= {"file", "version", "abstract", "docfile"}
        assert SEMVER.match(extension["version"])
        assert os.path.exists(os.path.join(ROOT, extension["file"])), extension["file"]
        assert os.path.exists(os.path.join(ROOT, extension["docfile"])), extension["docfile"]
    for phase, relations in meta.get("prereqs", {}).items():
        assert phase in PHASES
        for relation, requirements in relations.items():
            assert relation in RELATIONS
            for name, version in requirements.items():
                assert version == 0 or SEMVER.match(str(version)) or re.match(r"^[<>=!]", str(version))
    assert meta.get("release_status", "stable") in {"stable", "testing", "unstable"}
    assert all(isinstance(t, str) and t and len(t) <= 255 for t in meta.get("tags", []))


def test_meta_json_version_is_the_control_files_and_the_packages():
    meta = json.loads(read("META.json"))
    default_version = re.search(r"^default_version = '([^']+)'", read("allocation.control"), re.M).group(1)
    # the release is the extension's version and a patch number, which only
    # a release that changes the library alone raises (1.5.1)
    assert re.match(r"^%s\.(0|[1-9]\d*)$" % re.escape(default_version), meta["version"])
    assert meta["provides"]["allocation"]["version"] == meta["version"]
    assert meta["provides"]["allocation"]["file"] == "allocation--%s.sql" % default_version
    package_version = re.match(r"allocation \(([^)-]+)-", read("debian/changelog")).group(1)
    assert package_version == meta["version"]
