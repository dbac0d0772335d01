"""autotm: tensor placement in two-tier memory, from Python.

`autotm.Client` talks to an autotm-server; `autotm.torch` captures PyTorch
training iterations as autotm graphs and profiles their aten kernels (import
it explicitly: it loads torch).

    import autotm

    with autotm.Client('127.0.0.1:50051') as client:
      plan = client.plan('model.graph.json', 'my-host-class', '25%')
      autotm.save_plan(plan, 'model.plan.json')

Every error raised on purpose is an `autotm.AutotmError` carrying the gRPC
code and the server's (or the client's) message. The generated messages
live in autotm.v1 (graph_pb2, profile_pb2, plan_pb2, job_pb2, ...).
"""

from autotm._digest import canonical_graph_bytes
from autotm._digest import graph_digest
from autotm._errors import AutotmError
from autotm._json import load_graph
from autotm._json import load_message
from autotm._json import load_plan
from autotm._json import load_profile
from autotm._json import parse_json
from autotm._json import save_message
from autotm._json import save_plan
from autotm._json import to_json
from autotm._units import DEFAULT_ALIGNMENT_BYTES
from autotm._units import METHODS
from autotm._units import format_bytes
from autotm._units import parse_budget
from autotm._units import parse_bytes
from autotm._units import parse_duration
from autotm._units import parse_method
from autotm._units import peak_live_bytes
from autotm.client import Client
from autotm.client import connect
from autotm.client import is_final
from autotm.client import resolve_budget
from autotm.client import solve_parameters

__all__ = [
    'AutotmError',
    'Client',
    'canonical_graph_bytes',
    'DEFAULT_ALIGNMENT_BYTES',
    'METHODS',
    'connect',
    'format_bytes',
    'graph_digest',
    'is_final',
    'load_graph',
    'load_message',
    'load_plan',
    'load_profile',
    'parse_budget',
    'parse_bytes',
    'parse_duration',
    'parse_json',
    'parse_method',
    'peak_live_bytes',
    'resolve_budget',
    'save_message',
    'save_plan',
    'solve_parameters',
    'to_json',
]
