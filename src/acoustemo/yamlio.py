"""YAML read strictly: a repeated key is an error, alias expansion is bounded, tags beyond plain data refused.

PyYAML's ``safe_load`` keeps the last of two equal keys without a word and expands aliases without limit (a
few hundred bytes of nested aliases become gigabytes). :func:`load_yaml` composes the document with the safe
loader, checks both, and raises :class:`~acoustemo.errors.ConfigError` naming the source and the line.

    data = load_yaml(path.read_text(encoding="utf-8"), source=path)
"""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from .errors import ConfigError, excerpt

MAX_NODES = 100_000  # scalars, lists and mappings after alias expansion


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise ConfigError(f"{self.name}, line {key_node.start_mark.line + 1}: a mapping key must be a "
                                  "plain value") from None
            if key in seen:
                raise ConfigError(f"{self.name}, line {key_node.start_mark.line + 1}: key {excerpt(key)} repeats "
                                  f"the one on line {seen[key] + 1}")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: Node, memo: dict[int, int], limit: int) -> int:
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = limit + 1  # a node that contains itself expands without end
    size = 1
    if isinstance(node, SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo, limit)
            if size > limit:
                break
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, limit) + _expanded_size(v, memo, limit)
            if size > limit:
                break
    memo[id(node)] = size
    return size


def load_yaml(text: str, *, source: str = "<yaml>", max_nodes: int = MAX_NODES):
    """The data of one YAML document (``None`` when empty), read strictly (see the module docstring)."""
    loader = _StrictLoader(text)
    loader.name = str(source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, max_nodes) > max_nodes:
            raise ConfigError(f"{source}: the document expands to more than {max_nodes} values (nested aliases?)")
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or type(e).__name__
        raise ConfigError(f"{source}{at}: not valid YAML ({excerpt(str(what), 120)[1:-1]})") from None
    finally:
        loader.dispose()


def read_yaml(path) -> object:
    """:func:`load_yaml` of a file; undecodable bytes are reported with their line
    (:func:`acoustemo.io.read_text`)."""
    from .io import read_text

    return load_yaml(read_text(path), source=str(path))
