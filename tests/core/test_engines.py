"""The live engines' tests keep to one xdist worker, one after another (tests/conftest.py): a test that uses the live
PostgreSQL or SLURM without its marker fails at once, and a marked one is grouped."""

from __future__ import annotations

import pytest

from tests.helpers.cluster import postgres_url, slurm_partition


def test_an_unmarked_test_of_a_live_engine_fails_saying_which_marker():
    with pytest.raises(pytest.fail.Exception, match=r"mark it @pytest.mark.postgresql"):
        postgres_url()
    with pytest.raises(pytest.fail.Exception, match=r"mark it @pytest.mark.slurm"):
        slurm_partition()


@pytest.mark.slurm
def test_a_slurm_test_keeps_to_the_engines_group(request):
    assert request.node.get_closest_marker("xdist_group").args == ("engines",)


@pytest.mark.postgresql
def test_a_database_test_keeps_to_the_same_group(request):
    # the outage tests stop the database: nothing else that uses it may run beside them
    assert request.node.get_closest_marker("xdist_group").args == ("engines",)


@pytest.mark.slurm
@pytest.mark.postgresql
def test_a_test_of_both_engines_keeps_to_the_same_group(request):
    # a search as a SLURM job array on the live database: with a group per engine it ran beside a SLURM test
    # holding the node's CPUs, and one array task ran every trial while the other waited
    assert request.node.get_closest_marker("xdist_group").args == ("engines",)
