"""Training of interpretable face models (see training/cli.py; entry: `interpface train` or
`python -m training` / `torchrun -m training`)."""
