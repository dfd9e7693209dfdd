"""The greeter of services_py behind request identity (restate-sdk 1.2.0's
``identity_keys``): only requests signed by the key whose ``publickeyv1_...`` id is in
``RT_TEST_IDENTITY_KEY`` pass. Served by hypercorn in the identity tests."""

from __future__ import annotations

import os

import restate

from tests.integration.protocol.services_py import greeter

app = restate.app([greeter], identity_keys=[os.environ["RT_TEST_IDENTITY_KEY"]])
