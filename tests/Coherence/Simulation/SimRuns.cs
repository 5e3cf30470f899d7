namespace ShopAstro.Tests.Coherence.Simulation;

/// <summary>Whole schedules of the workload, for tests that compare the protocol with and without one of its parts.</summary>
public static class SimRuns
{
    /// <summary>Runs schedules 1 to <paramref name="seeds"/> and counts the violations (those <paramref name="which"/> picks) in their histories.</summary>
    public static int Violations(int seeds, Func<int, SimCluster> cluster, Func<string, bool>? which = null)
    {
        var count = 0;
        for (var seed = 1; seed <= seeds; seed++)
        {
            var run = cluster(seed);
            run.RunWorkload(TimeSpan.FromSeconds(30));
            Assert.Null(run.World.Fault);
            count += run.History.Check().Count(which ?? (_ => true));
        }

        return count;
    }
}
