"""Selection strategies: each turns a pool and its score tables into one ranked list of ids.

Importing this package registers every strategy module in the registry of ``base``.
"""

from chasing_random.selection import model_free  # noqa: F401  (registers random, strictrandom, longest, tokenlength, full)
from chasing_random.selection import ifd  # noqa: F401  (registers superfilter)
from chasing_random.selection import cherry  # noqa: F401  (registers cherry)
from chasing_random.selection import alpagasus, deita  # noqa: F401  (registers alpagasus, deita)
from chasing_random.selection import external  # noqa: F401  (registers scores)
from chasing_random.selection import rds  # noqa: F401  (registers rds)
from chasing_random.selection import kcenter  # noqa: F401  (registers kcenter)
from chasing_random.selection import zip_entropy  # noqa: F401  (registers zip)
from chasing_random.selection import askllm  # noqa: F401  (registers askllm)
from chasing_random.selection import study  # noqa: F401  (registers study, the study's released subsets)
