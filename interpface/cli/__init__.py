"""The `interpface` command line: :mod:`.main` (parser, data and training commands),
:mod:`.evaluation` (embed, evaluate), :mod:`.analysis` (analyze, report, faithfulness),
:mod:`.dashboard`."""
