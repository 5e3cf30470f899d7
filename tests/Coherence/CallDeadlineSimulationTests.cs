using ShopAstro.Tests.Coherence.Simulation;

namespace ShopAstro.Tests.Coherence;

/// <summary>
/// What call deadlines are for, over whole schedules of the simulation: a write held in a paused gateway (a silo that
/// forwards clients' calls) reaches the subject's activation after its client was told it failed. Without a deadline it
/// is stored then, after writes of the same client that were acknowledged since; with one it is refused.
/// </summary>
public sealed class CallDeadlineSimulationTests
{
    [Fact]
    public void Without_deadlines_writes_held_in_a_paused_gateway_are_stored_after_their_failure_and_with_them_they_are_not()
    {
        var faults = new SimFaults(SiloPause: 0.1);
        static bool StoredAfterItsFailure(string violation) => violation.Contains("failed for its client", StringComparison.Ordinal);
        var without = SimRuns.Violations(60, seed => new SimCluster(seed, faults, deadlines: false), StoredAfterItsFailure);
        var with = SimRuns.Violations(60, seed => new SimCluster(seed, faults), StoredAfterItsFailure);

        Assert.True(without > 0, "no write was held past its failure in these schedules: the test shows nothing");
        Assert.Equal(0, with);
    }
}
