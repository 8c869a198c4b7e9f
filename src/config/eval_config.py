"""Evaluate one IPython/traitlets Python config file and print what it configures as JSON.

The C++ config reader (ipp::config::load_python_config) reads the literal subset of config files
itself and runs this script only for files beyond it (imports, expressions, conditionals,
load_subconfig, ...):

    /usr/bin/python3 -c <this script> <config file>

It mirrors traitlets' PyFileConfigLoader: the file runs with `c`, `get_config()`,
`load_subconfig(fname, path=None, profile=None)` and `__file__` defined, and `c.Class.trait`
behaves like a traitlets Config (capitalised attributes are sub-sections, a trait read before it
is assigned records append/extend/prepend/insert/update calls as LazyConfigValue does).

The result is one line on stdout:
    {"config": {"Class": {"trait": value, ...}, ...}}        exit status 0
    {"error": {"file": path, "line": n, "message": text}}     exit status 1
Anything the config file prints goes to stderr, so it cannot corrupt that line.  Values JSON
cannot hold become their repr(); bytes become their UTF-8 text (repr when not UTF-8); sets become
lists.

This file is compiled into the C++ library as a string (no at-signs here: CMake's configure_file
would treat @NAME@ as a variable).
"""

import json
import math
import os
import sys
import traceback


def _is_section_key(key):
    """traitlets' rule: a name starting with an upper-case letter is a sub-section."""
    return bool(key) and key[0].upper() == key[0] and not key.startswith("_")


class LazyValue:
    """A trait read before it was assigned, e.g. the first `c.X.args.append('--foo')`.

    Records container operations so the intent survives without knowing the trait's default
    (the C++ side cannot know it either): list operations become a list, dict updates a dict.
    """

    def __init__(self):
        self._extend = []
        self._prepend = []
        self._inserts = []
        self._update = None
        self.used = False

    def append(self, obj):
        self.used = True
        self._extend.append(obj)

    def extend(self, other):
        self.used = True
        self._extend.extend(other)

    def prepend(self, other):
        self.used = True
        self._prepend[:0] = list(other)

    def insert(self, index, other):
        self.used = True
        self._inserts.append((index, other))

    def add(self, obj):
        self.append(obj)

    def update(self, other=(), **kwargs):
        self.used = True
        if self._update is None:
            self._update = {}
        self._update.update(other, **kwargs)

    def __setitem__(self, key, value):
        self.update({key: value})

    def value(self):
        if self._update is not None:
            return dict(self._update)
        items = self._prepend + self._extend
        for index, obj in self._inserts:
            items.insert(index, obj)
        return items

    def __repr__(self):
        return "<LazyValue %r>" % (self.value(),)


class Config(dict):
    """The `c` of a config file: a dict of sections, reachable as attributes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, value in list(self.items()):
            if _is_section_key(key) and isinstance(value, dict) and not isinstance(value, Config):
                dict.__setitem__(self, key, Config(value))

    def __getitem__(self, key):
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            if _is_section_key(key):
                value = Config()
            elif not key.startswith("_"):
                value = LazyValue()
            else:
                raise
            dict.__setitem__(self, key, value)
            return value

    def __setitem__(self, key, value):
        if _is_section_key(key) and isinstance(value, dict) and not isinstance(value, Config):
            value = Config(value)
        dict.__setitem__(self, key, value)

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(key) from e

    def __setattr__(self, key, value):
        self[key] = value

    def __delattr__(self, key):
        try:
            del self[key]
        except KeyError as e:
            raise AttributeError(key) from e

    def merge(self, other):
        """traitlets' Config.merge: sections merge, trait values replace."""
        for key, value in other.items():
            mine = dict.get(self, key)
            if isinstance(value, Config) and isinstance(mine, Config):
                mine.merge(value)
            else:
                self[key] = value


_executed = []  # absolute paths of the files run, to find their frames in a traceback


def _ipython_dir():
    found = os.environ.get("IPYTHONDIR") or os.environ.get("IPYTHON_DIR") or "~/.ipython"
    return os.path.normpath(os.path.expanduser(found))


def _run(path):
    path = os.path.abspath(os.path.expanduser(path))
    _executed.append(path)
    cfg = Config()

    def get_config():
        return cfg

    def load_subconfig(fname, path=None, profile=None):
        # IPython's ProfileAwareConfigLoader: `profile` names another profile to look in; a
        # missing file (or profile) counts as an empty config.
        if profile is not None:
            path = os.path.join(_ipython_dir(), "profile_" + profile)
            if not os.path.isdir(path):
                return
        if path is None:
            path = here
        fname = os.path.expanduser(fname)
        full = fname if os.path.isabs(fname) else os.path.join(path, fname)
        if not os.path.isfile(full):
            return
        cfg.merge(_run(full))

    here = os.path.dirname(path)
    namespace = dict(c=cfg, get_config=get_config, load_subconfig=load_subconfig, __file__=path)
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    exec(code, namespace, namespace)
    return cfg


def _key(key):
    # What json.dumps does with non-str keys, extended to anything.
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return str(key)
    return repr(key)


def _plain(value):
    """A JSON-able copy of `value`."""
    if isinstance(value, LazyValue):
        return _plain(value.value())
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, LazyValue) and not item.used:
                continue  # read (e.g. printed) but never changed
            plain = _plain(item)
            if isinstance(item, Config) and not plain:
                continue  # a section that was only looked at
            out[_key(key)] = plain
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (set, frozenset)):
        items = [_plain(item) for item in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        # lone surrogates cannot travel as UTF-8
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, int):
        return int(value) if -(2**63) <= value < 2**63 else repr(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return repr(bytes(value))
    return repr(value)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: python3 -c <eval_config.py> <config file>\n")
        return 2
    target = argv[1]
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        result = {"config": _plain(_run(target))}
    except SyntaxError as e:
        result = {
            "error": {
                "file": e.filename or os.path.abspath(target),
                "line": e.lineno or 0,
                "message": "%s: %s" % (type(e).__name__, e.msg),
            }
        }
    except BaseException as e:  # SystemExit and KeyboardInterrupt in a config file are errors too
        where, line = os.path.abspath(target), 0
        for frame in traceback.extract_tb(e.__traceback__):
            if frame.filename in _executed:
                where, line = frame.filename, frame.lineno
        message = "".join(traceback.format_exception_only(type(e), e)).strip()
        result = {"error": {"file": where, "line": line, "message": message}}
    finally:
        sys.stdout = out
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0 if "config" in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
