"""Where user files come in and results go out.

In: every spec, claims file and table is read here, bounded before any work is done (file
size, nesting depth, values after YAML aliases), with YAML's safe loader and JSON, both refusing
duplicate keys. Out: every result is written here, atomically (a temporary file in the target's
directory, then a rename: an interrupted or failed write leaves the old file or none), and never
over one of the command's own inputs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence

from .errors import CnnsizeError, SpecError

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any

MAX_FILE_BYTES = 64 * 2**20   # a spec or claims file
MAX_DEPTH = 64                # nesting of lists and mappings in one file
MAX_VALUES = 2_000_000        # values in one file, YAML aliases expanded


def read_text(path: str | os.PathLike[str], what: str = "spec") -> str:
    """A file's text (UTF-8), or a SpecError that says what is wrong with it."""
    name = os.fspath(path)
    longest = max((len(part) for part in name.replace(os.altsep or os.sep, os.sep).split(os.sep)),
                  default=0)
    if longest > 255:
        raise SpecError(f"a file name has at most 255 characters; this one has {longest}",
                        source=_short(name))
    try:
        if not os.path.isfile(name):
            raise SpecError(f"no such {what} file: {_short(name)}", source=_short(name))
        size = os.path.getsize(name)
        if size > MAX_FILE_BYTES:
            raise SpecError(f"the file has {size:,} bytes; a {what} file may have "
                            f"{MAX_FILE_BYTES:,}", source=name)
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise SpecError(f"cannot read the file: {e.strerror or e}", source=_short(name)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise SpecError(f"the file is not UTF-8 text: byte {data[e.start]:#04x} at line {line}",
                        source=name, hint="save it as UTF-8") from None


def _short(name: str) -> str:
    return name if len(name) <= 120 else f"{name[:60]}…{name[-40:]} ({len(name)} characters)"


def _yaml_loader() -> type:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it

    class Loader(base):  # type: ignore[misc, valid-type]
        """The safe loader, refusing a key given twice in one mapping."""

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    if key in seen:
                        mark = key_node.start_mark
                        raise SpecError(f"the key {key!r} is given twice in one mapping, at "
                                        f"line {seen[key]} and line {mark.line + 1}",
                                        hint="a spec is data: one value per key")
                    seen[key] = key_node.start_mark.line + 1
                except TypeError:  # an unhashable key: the constructor says so below
                    pass
            mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
            return mapping

    return Loader


def read_yaml(text: str, source: str) -> Any:
    """YAML with the safe loader (duplicate keys refused), checked by check_data."""
    import yaml

    try:
        data = yaml.load(text, Loader=_yaml_loader())
    except CnnsizeError as e:
        raise e.located(source=source) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"invalid YAML{where}: {problem}", source=source) from None
    except RecursionError:
        raise SpecError(f"the file nests more than {MAX_DEPTH} levels deep", source=source) from None
    except (ValueError, TypeError, OverflowError) as e:  # a huge integer literal, …
        raise SpecError(f"invalid YAML: {e}", source=source) from None
    check_data(data, source)
    return data


# The data of a package's YAML file (the zoo's specs), kept beside it as Python keeps bytecode:
# __pycache__/NAME.yaml.TAG.marshal holds (CACHE_FORMAT, the file's bytes, their data), and is
# used only while the file holds exactly those bytes, so it cannot serve stale data; it spares
# importing PyYAML and parsing. Bump CACHE_FORMAT when read_yaml would read the same bytes
# otherwise. (PyYAML's version is not part of the key: the zoo's files hold plain scalars,
# lists and mappings, which every PyYAML 6 reads alike; tests/test_speed_paths.py compares.)
CACHE_FORMAT = 1


def cache_path(path: str | os.PathLike[str]) -> str | None:
    """Where the cache of a package's YAML file lives (None: this Python keeps no caches)."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    folder, name = os.path.split(os.path.abspath(path))
    if sys.pycache_prefix:  # PYTHONPYCACHEPREFIX: a tree of its own, as for bytecode
        folder = os.path.join(sys.pycache_prefix, folder.lstrip(os.sep))
    else:
        folder = os.path.join(folder, "__pycache__")
    return os.path.join(folder, f"{name}.{tag}.marshal")


def read_yaml_cached(path: str | os.PathLike[str], source: str) -> Any:
    """read_yaml of a package's file (a zoo spec), through its cache (cache_path): written,
    atomically, where it is missing or out of date and Python writes bytecode; where the
    folder is read-only, the file is parsed each time."""
    import marshal

    with open(path, "rb") as fh:
        raw = fh.read()
    cache = cache_path(path)
    if cache is not None:
        try:
            with open(cache, "rb") as fh:
                fmt, text, data = marshal.load(fh)
            if fmt == CACHE_FORMAT and text == raw:
                return data
        except (OSError, EOFError, ValueError, TypeError):  # none yet, or not one of ours
            pass
    data = read_yaml(raw.decode("utf-8"), source)
    if cache is not None and not sys.dont_write_bytecode:
        _write_cache(cache, marshal, (CACHE_FORMAT, raw, data))
    return data


def _write_cache(cache: str, marshal: Any, entry: tuple[int, bytes, Any]) -> None:
    """The cache file, replaced atomically (a reader sees the old one or the new one); nothing
    where it cannot be written (a read-only install) or the data has no marshal form."""
    try:
        blob = marshal.dumps(entry)
    except ValueError:  # a value marshal cannot hold (a date): no cache
        return
    temp = f"{cache}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(temp, "wb") as fh:
            fh.write(blob)
        os.replace(temp, cache)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def read_json(text: str, source: str) -> Any:
    """JSON, duplicate keys and NaN/Infinity refused, checked by check_data."""
    import json

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise SpecError(f"the key {key!r} is given twice in one object",
                                hint="a spec is data: one value per key")
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise SpecError(f"{name} is not a number a spec can hold")

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except CnnsizeError as e:
        raise e.located(source=source) from None
    except json.JSONDecodeError as e:
        raise SpecError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}",
                        source=source) from None
    except RecursionError:
        raise SpecError(f"the file nests more than {MAX_DEPTH} levels deep", source=source) from None
    except ValueError as e:  # an integer literal longer than Python converts
        raise SpecError(f"invalid JSON: {e}", source=source) from None
    check_data(data, source)
    return data


def check_data(data: Any, source: str) -> None:
    """Refuse data nested deeper than MAX_DEPTH, or with more than MAX_VALUES values once YAML
    aliases are expanded (a 700-byte file can stand for billions), before anything reads it."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(data, 1, False)]
    while stack:
        value, depth, done = stack.pop()
        if not isinstance(value, (list, dict)):
            continue
        if depth > MAX_DEPTH:
            raise SpecError(f"the file nests more than {MAX_DEPTH} levels deep", source=source)
        key = id(value)
        if done:
            visiting.discard(key)
            children = value.values() if isinstance(value, dict) else value
            size = 1 + sum(sizes.get(id(c), 1) if isinstance(c, (list, dict)) else 1
                           for c in children) + (len(value) if isinstance(value, dict) else 0)
            sizes[key] = size
            if size > MAX_VALUES:
                raise SpecError(f"the file expands to more than {MAX_VALUES:,} values "
                                "(YAML aliases repeat what they name)", source=source,
                                hint="write the data out, or use blocks and repeat")
            continue
        if key in sizes:
            continue
        if key in visiting:
            raise SpecError("the file refers to itself (a YAML alias inside its own anchor)",
                            source=source)
        visiting.add(key)
        stack.append((value, depth, True))
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1, False) for c in children
                     if isinstance(c, (list, dict)) and id(c) not in sizes)


def plain(value: Any, where: str = "meta") -> Any:
    """Data from a YAML file as JSON can hold it: dates become ISO strings; binary is refused."""
    datetime = sys.modules.get("datetime")  # none can be one before it is imported
    if datetime is not None and isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        raise SpecError("binary data (!!binary) has no place in a spec", field=where)
    if isinstance(value, Mapping):
        return {str(k): plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v, where) for v in value]
    return value


# ---------------------------------------------------------------- writing


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_target(path: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]],
                 field: str = "--output") -> None:
    """Refuse to write over one of the command's inputs (also through a link or another name)."""
    for source in inputs:
        if os.fspath(source) and same_file(path, source):
            raise CnnsizeError(f"{os.fspath(path)} is one of this command's inputs; it is not "
                               "overwritten", field=field,
                               hint="write the result to another file")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]] = (),
                field: str = "--output") -> Iterator[str]:
    """A temporary path next to `path` to write to; renamed over `path` when the block ends
    without an error, removed otherwise (Ctrl-C, a full disk): the old file or none."""
    target = os.fspath(path)
    if not target:
        raise CnnsizeError("the output file name is empty", field=field)
    check_target(target, inputs, field)
    folder = os.path.dirname(os.path.abspath(target))
    suffix = os.path.splitext(target)[1]
    try:
        import tempfile

        fd, temp = tempfile.mkstemp(prefix=".cnnsize-", suffix=suffix, dir=folder)
    except OSError as e:
        raise CnnsizeError(f"cannot write {_short(target)}: {e.strerror or e}", field=field) from None
    os.close(fd)
    try:
        yield temp
        if os.path.islink(target) or os.path.exists(target):
            with contextlib.suppress(OSError):
                os.chmod(temp, os.stat(target).st_mode & 0o777)
        else:
            os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, os.path.realpath(target) if os.path.islink(target) else target)
    except OSError as e:
        raise CnnsizeError(f"cannot write {_short(target)}: {e.strerror or e}", field=field) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(text: str, path: str | os.PathLike[str] | None,
               inputs: Sequence[str | os.PathLike[str]] = (), field: str = "--output") -> None:
    """Text to `path` atomically, or to standard output (None)."""
    if path is None:
        if sys.stdout is None:
            raise CnnsizeError("there is no standard output to write to (it is closed)",
                               hint="give -o FILE")
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            raise  # the reader went away (| head): the CLI ends quietly
        except (OSError, ValueError) as e:  # a full disk, a closed stdout
            raise CnnsizeError(f"cannot write to standard output: "
                               f"{getattr(e, 'strerror', None) or e}") from None
        return
    with atomic_path(path, inputs, field) as temp, open(temp, "w", encoding="utf-8") as fh:
        fh.write(text)


__all__ = ["CACHE_FORMAT", "MAX_DEPTH", "MAX_FILE_BYTES", "MAX_VALUES", "atomic_path",
           "cache_path", "check_data", "check_target", "plain", "read_json", "read_text",
           "read_yaml", "read_yaml_cached", "same_file", "write_text"]
