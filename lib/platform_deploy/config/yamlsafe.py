"""Read YAML defensively: size cap, strict UTF-8, safe tags only, duplicate keys and alias bombs refused."""

import re

import yaml

from ..textutil import one_line

MAX_FILE_BYTES = 1024 * 1024
# Nodes after alias expansion: a registry of 1,000 projects has ~50,000.
MAX_EXPANDED_NODES = 500_000


class YamlProblem(Exception):
    """The file cannot be read as YAML; the message is one line without the file name."""


# libyaml's parser when PyYAML was built with it: about 10x faster on a large registry.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_SHOWN = 60


class _StrictLoader(_BaseLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last one."""

    def construct_object(self, node, deep=False):
        # The safe constructors raise plain Python errors for some malformed scalars
        # (`2001-13-45`, `!!int x`, `!!timestamp x`, an integer of more than 4,300 digits):
        # turn them into a YAML error that carries the line.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, OverflowError):
            kind = str(node.tag).rsplit(":", 1)[-1]
            shown = repr(node.value) if isinstance(node.value, str) else "value"
            if len(shown) > MAX_SHOWN:
                shown = shown[: MAX_SHOWN - 3] + "..."
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown} is not a valid {kind}", node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *defaults`; SafeLoader's flatten_mapping merges it
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    mark = key_node.start_mark
                    raise YamlProblem(f"line {mark.line + 1}: duplicate key {key!r}")
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)

# A plain scalar is a number or a boolean only where YAML 1.1 and 1.2's core schema agree: `1:30` (1.1's
# sexagesimal 90), `0x50`, `0o12`, `0b1`, `1_000`, `0123` (1.1's octal 83) and `yes`/`no`/`on`/`off`/`y`/`n`
# stay text, which the validator then refuses by name instead of reading a value nobody wrote. Being a subset of
# 1.1, whatever this reads as a number PyYAML's dumper quotes when it means text (`'08'`).
_IMPLICIT = {
    "tag:yaml.org,2002:bool": ("tTfF", r"true|True|TRUE|false|False|FALSE"),
    "tag:yaml.org,2002:int": ("-+0123456789", r"[-+]?(?:0|[1-9][0-9]*)"),
    "tag:yaml.org,2002:float": ("-+0123456789.", r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?|\.[0-9]+(?:[eE][-+][0-9]+)?"
                                                 r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"),
}
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _IMPLICIT]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()}
for _tag, (_first, _pattern) in _IMPLICIT.items():
    _StrictLoader.add_implicit_resolver(_tag, re.compile(rf"^(?:{_pattern})$"), list(_first))


def _decimal_int(loader, node):
    """`!!int` in decimal only (1.1's constructor reads `0x50`, `0o12`, `1:30` and `0123` as octal)."""
    value = loader.construct_scalar(node)
    if not re.fullmatch(r"[-+]?[0-9]+", value):
        raise ValueError(value)
    return int(value, 10)


def _decimal_float(loader, node):
    value = loader.construct_scalar(node)
    if ":" in value or "_" in value:
        raise ValueError(value)
    return float(value.lower().replace(".inf", "inf").replace(".nan", "nan"))


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _decimal_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _decimal_float)


def _expanded_size(node, limit):
    """Count nodes as a consumer walking the data would see them (aliases expanded), up to ``limit``."""
    count, stack = 0, [node]
    while stack:
        current = stack.pop()
        count += 1
        if count > limit:
            return count
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.extend((key, value))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return count


def parse_yaml(data: bytes):
    """Parse ``data`` into plain Python objects or raise YamlProblem."""
    if len(data) > MAX_FILE_BYTES:
        raise YamlProblem(f"file is {len(data)} bytes, over the {MAX_FILE_BYTES} byte limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise YamlProblem(f"not valid UTF-8 at byte {error.start}") from None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
            raise YamlProblem(f"aliases expand to more than {MAX_EXPANDED_NODES} nodes; refusing")
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise YamlProblem(f"{where}{error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise YamlProblem(one_line(error)) from None
    except RecursionError:  # the pure-Python parser on deeply nested flow collections
        raise YamlProblem("nested too deeply") from None
    finally:
        loader.dispose()
