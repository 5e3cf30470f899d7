using Xunit.Abstractions;

namespace ShopAstro.Tests.Coherence.Simulation;

/// <summary>
/// Systematic exploration of the lease protocol's real code (<c>ShopAstro.Coherence</c>) in the deterministic
/// simulation: each seed is one schedule of the workload and its faults; S1-S4 are checked over every history.
/// <c>SHOPASTRO_SIM_SEEDS</c> sets how many schedules (CI: the default, 1000; load-tests/coherence.sh simulation: 5000).
/// </summary>
public sealed class CoherenceSimulationTests(ITestOutputHelper output)
{
    private static int Seeds => int.TryParse(Environment.GetEnvironmentVariable("SHOPASTRO_SIM_SEEDS"), out var seeds) ? seeds : 1000;

    /// <summary>The default faults; <c>SHOPASTRO_SIM_DUPLICATES</c> sets a probability of duplicate activations (an assumption S1 relies on, see docs/coherence.md).</summary>
    private static SimFaults Faults =>
        double.TryParse(Environment.GetEnvironmentVariable("SHOPASTRO_SIM_DUPLICATES"), System.Globalization.CultureInfo.InvariantCulture, out var p)
            ? new SimFaults(DuplicateActivation: p)
            : new SimFaults();

    /// <summary><c>SHOPASTRO_SIM_UNFENCED=1</c>: silos answer without a confirmed membership, to show what the fence prevents.</summary>
    private static bool Fenced => Environment.GetEnvironmentVariable("SHOPASTRO_SIM_UNFENCED") != "1";

    [Fact]
    public void Every_explored_schedule_with_faults_keeps_S1_to_S4()
    {
        var totals = new Totals();
        var failures = new List<string>();
        var violating = 0;
        for (var seed = 1; seed <= Seeds; seed++)
        {
            var cluster = new SimCluster(seed, Faults, fenced: Fenced);
            cluster.RunWorkload(TimeSpan.FromSeconds(30));
            totals.Add(cluster);
            if (cluster.World.Fault is { } fault)
            {
                failures.Add($"seed {seed}: the simulation itself failed: {fault}");
            }

            var violations = cluster.History.Check();
            violating += violations.Count > 0 ? 1 : 0;
            failures.AddRange(violations.Take(3).Select(v => $"seed {seed}: {v}"));
        }

        output.WriteLine($"SIMULATION: {Seeds} schedules, {totals}; schedules with a violation of S1-S4: {violating}");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    [Fact]
    public void Replay()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("SHOPASTRO_SIM_REPLAY"), out var seed))
        {
            return;
        }

        var cluster = new SimCluster(seed, Faults, fenced: Fenced);
        cluster.World.Trace = [];
        cluster.RunWorkload(TimeSpan.FromSeconds(30));
        File.WriteAllLines($"/tmp/sim-{seed}.log", [.. cluster.World.Trace, .. cluster.History.Check()]);
    }

    private sealed class Totals
    {
        private long _steps;
        private int _checks;
        private int _failedChecks;
        private int _writes;
        private int _failedWrites;
        private int _commits;
        private int _publishes;
        private int _acknowledgedPublishes;
        private int _scheduled;
        private int _lost;
        private readonly Dictionary<string, int> _faults = [];

        public void Add(SimCluster cluster)
        {
            _steps += cluster.World.Steps;
            _checks += cluster.History.Checks;
            _failedChecks += cluster.History.FailedChecks;
            _writes += cluster.History.Writes;
            _failedWrites += cluster.History.FailedWrites;
            _commits += cluster.History.Commits;
            _publishes += cluster.History.Publishes;
            _acknowledgedPublishes += cluster.History.AcknowledgedPublishes;
            _scheduled += cluster.History.ScheduledPublishes;
            _lost += cluster.Network.Lost;
            foreach (var (kind, count) in cluster.Injected)
            {
                _faults[kind] = _faults.GetValueOrDefault(kind) + count;
            }
        }

        public override string ToString() =>
            $"{_steps:N0} scheduling steps, {_checks:N0} checks answered ({_failedChecks:N0} failed), {_writes:N0} writes " +
            $"({_writes - _failedWrites:N0} acknowledged, {_commits:N0} commits), {_publishes:N0} policy publishes " +
            $"({_acknowledgedPublishes:N0} acknowledged; {_scheduled:N0} scheduled ahead), {_lost:N0} messages lost, faults: " +
            string.Join(", ", _faults.OrderBy(f => f.Key).Select(f => $"{f.Key} {f.Value}"));
    }
}
