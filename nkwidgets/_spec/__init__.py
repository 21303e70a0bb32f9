"""The ``%%nk`` language, one concept per module; ``nkwidgets.spec`` is the public face.

* ``_vocabulary``: what a spec may name (settings, layers, datasets, functions) and
  the limits that keep hostile input cheap; ``catalog()`` for the editor.
* ``_error``: :class:`SpecError`, an error at a line and column.
* ``_parser``: text -> validated JSON tree, by :mod:`ast` against the vocabulary.
* ``_text``: JSON tree -> text that parses back to the same tree.
* ``_model``: :class:`Spec`, the parsed experiment, and building it.
"""
