"""Evaluation of fine-tuned models: IFEval, pairwise win rate against reference models, lm-eval tasks."""
