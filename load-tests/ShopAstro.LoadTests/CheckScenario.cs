namespace ShopAstro.LoadTests;

/// <summary>The single check under wrk, next to the bare-Kestrel ceiling; the hot-set diagnostic; the edge decision-cache counts.</summary>
internal sealed class CheckScenario(RunContext run, Cluster cluster, Profiler profiler, Counters counters)
{
    private readonly CheckComparison _comparison = new(run);

    internal async Task SingleCheckAsync()
    {
        var p = run.Profile;
        // Warm-up: JIT, connection pools, and the hot subjects' activations (a real edge has them).
        var warm = await Wrk.RunAsync("edge warm-up", run.EdgeUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, p.WrkWarmup, run.WrkEnvironment());
        Console.WriteLine($"warm-up: {warm.RequestsPerSecond:N0} req/s");

        // The HTTP ceiling (same routing, same JSON shape, the edge's runtime settings), warmed up the same way.
        await cluster.EnsureCeilingAsync();
        await Wrk.RunAsync("ceiling warm-up", run.CeilingUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, TimeSpan.FromSeconds(3), run.WrkEnvironment());

        // Alternating pairs; the ceiling does not touch the edge, so the lookups over the whole series are the edge runs'.
        var lookupsBefore = await CacheLookupsAsync();
        var pairs = await _comparison.MeasureAsync("edge");
        var lookups = (await CacheLookupsAsync()).Subtract(lookupsBefore);
        var median = pairs.Median();
        var edge = median.Edge;
        var ceiling = median.Ceiling;
        run.Saturation = edge.RequestsPerSecond;
        run.CeilingRps = ceiling.RequestsPerSecond;
        run.CeilingP99 = pairs.MedianP99().Ceiling.Latency.P99;
        var activations = EstimateColdActivations(warm.Requests, pairs.EdgeRequests, pairs.EdgeSeconds);

        // dotnet-counters during extra runs of the same load: its in-process listener sees every measurement of
        // every instrument, which would slow the measured runs. The allocations of these runs give the bytes per check.
        var attachedEdge = await counters.AttachedCheckRunAsync("edge", run.EdgeUrl, Counters.Edge("edge", run.Edge!.Pid), Counters.Silo(run.Silo!.Pid));
        run.AttachedCheckRps = attachedEdge.RequestsPerSecond;
        var attachedCeiling = await counters.AttachedCheckRunAsync("ceiling", run.CeilingUrl, Counters.Edge("ceiling server", run.Ceiling!.Pid));
        run.CeilingAllocatedPerRequest = counters.AllocationOf("ceiling server", attachedCeiling);
        await profiler.ProfileChecksAsync();

        // Diagnostic: the same route on a small hot set whose grains are all active, i.e. no activations and no storage.
        var hotEnvironment = run.WrkEnvironment();
        hotEnvironment["LT_SUBJECTS"] = "1000";
        await Wrk.RunAsync("edge hot-set warm-up", run.EdgeUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, TimeSpan.FromSeconds(3), hotEnvironment);
        var from = run.Cpu.Now;
        var hot = await Wrk.RunAsync("edge, 1,000 active subjects", run.EdgeUrl, run.WrkScript, p.WrkThreads, p.WrkConnections,
            TimeSpan.FromSeconds(Math.Max(6, p.PairDuration.TotalSeconds / 2)), hotEnvironment);
        run.Report.Cpu.Add(new CpuWindow($"single check, edge, 1,000 active subjects only (diagnostic)", run.Cpu.Inside(from, run.Cpu.Now), hot.RequestsPerSecond, "checks"));
        Console.WriteLine($"edge hot set: {hot.RequestsPerSecond:N0} req/s, p99 {hot.Latency.P99} ms");

        run.Report.Scenarios["singleCheck"] = new
        {
            pairs = pairs.Pairs.Select(x => new { x.Edge, x.Ceiling, rpsRatio = Math.Round(x.RpsRatio, 3), p99Ratio = Math.Round(x.P99Ratio, 3) }),
            medianRpsRatio = pairs.RpsRatio, medianP99Ratio = pairs.P99Ratio,
            countersRuns = new { edge = attachedEdge, ceiling = attachedCeiling },
            hotSetDiagnostic = hot, estimatedColdActivations = activations, warmUp = warm,
            zipf = new { run.Keys.S, run.Keys.Subjects, run.Keys.Stores, hotSetPreloaded = p.PreloadWrites, shareOfChecksOnPreloaded = Math.Round(run.Keys.MassOfTop(p.PreloadWrites), 3) },
        };
        run.Report.Chart.Add(new ChartPoint("edge wrk c64 (closed loop)", edge.RequestsPerSecond, edge.RequestsPerSecond, edge.Latency.P50, edge.Latency.P99, edge.Latency.Max));
        run.Report.Chart.Add(new ChartPoint("ceiling wrk c64 (closed loop)", ceiling.RequestsPerSecond, ceiling.RequestsPerSecond, ceiling.Latency.P50, ceiling.Latency.P99, ceiling.Latency.Max));
        foreach (var figure in _comparison.Figures("single check", pairs, ["edge", "silo", "postgres", "redis"],
                     counters.AllocationOf("edge", attachedEdge), run.CeilingAllocatedPerRequest))
        {
            run.Report.Add(figure);
        }

        run.Report.Add(new Figure("single check", "diagnostic: HTTP checks/s when only 1,000 subjects are asked (all active: no activation, no storage)", hot.RequestsPerSecond, "req/s",
            ceiling.RequestsPerSecond, "bare Kestrel, median pair", RunReport.RatioOf(hot.RequestsPerSecond, ceiling.RequestsPerSecond), null, null,
            $"p50 {hot.Latency.P50} / p99 {hot.Latency.P99} / max {hot.Latency.Max} ms"));
        run.Report.Add(new Figure("single check", "checks answered at the edge without a grain call during the measured windows", lookups.HereShare * 100, "%",
            null, null, null, null, null,
            $"{lookups.Hit:N0} from a subject lease held, {lookups.Absent:N0} from the store's absence lease (no record: no activation, no database read), " +
            $"{lookups.Lease:N0} took a new subject lease (first ask of a subject with a record, or after its lease was revoked or dropped), {lookups.Grain:N0} decided by the grain{lookups.Batching}"));
        run.Report.Add(new Figure("single check", "never-asked subjects checked during the measured windows (estimated from the key space)", activations.DuringMeasurement, "subjects",
            null, null, null, null, null, $"≈ {activations.PerSecond:N0}/s, {activations.ShareOfChecks:P1} of the windows' checks; " +
            "without the absence leases each was an activation (a PostgreSQL read and a store-lease call)"));
        run.Report.Add(new Figure("single check", $"p99.9 at {p.WrkConnections} connections (median pair)", edge.Latency.P999, "ms", ceiling.Latency.P999, "bare Kestrel p99.9",
            RunReport.RatioOf(edge.Latency.P999, ceiling.Latency.P999), null, null));
        run.Report.Add(new Figure("single check", $"max at {p.WrkConnections} connections (median pair)", edge.Latency.Max, "ms", ceiling.Latency.Max, "bare Kestrel max",
            RunReport.RatioOf(edge.Latency.Max, ceiling.Latency.Max), null, null));
    }

    /// <param name="LeaseRequests">
    /// Lease requests sent in batches (new leases and renewals ahead of expiry; a check that joins a request already made
    /// adds none), and in how many <paramref name="LeaseBatches"/>; null when each is a call of its own.
    /// </param>
    internal sealed record CacheLookups(double Hit, double Absent, double Lease, double Grain, double? LeaseRequests, double? LeaseBatches)
    {
        private double Total => Hit + Absent + Lease + Grain;

        public double HereShare => Total > 0 ? Math.Round((Hit + Absent) / Total, 4) : 0;

        public CacheLookups Subtract(CacheLookups before) =>
            new(Hit - before.Hit, Absent - before.Absent, Lease - before.Lease, Grain - before.Grain,
                LeaseRequests - before.LeaseRequests, LeaseBatches - before.LeaseBatches);

        public string Batching => LeaseBatches switch
        {
            null => "; each lease request a call of its own",
            > 0 => $"; {LeaseRequests:N0} lease requests (new leases and renewals) sent in {LeaseBatches:N0} batches, {LeaseRequests / LeaseBatches:N1} per batch",
            _ => "; no lease batch sent",
        };
    }

    /// <summary>The edge's decision-cache lookups so far, from its Prometheus endpoint.</summary>
    internal async Task<CacheLookups> CacheLookupsAsync()
    {
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(run.EdgeUrl), Timeout = TimeSpan.FromSeconds(10) };
            var text = await client.GetStringAsync("/metrics");
            double Sum(string pattern) => System.Text.RegularExpressions.Regex.Matches(text, pattern, System.Text.RegularExpressions.RegexOptions.Multiline)
                .Sum(m => double.Parse(m.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture));
            double Of(string result) => Sum($$"""^shopastro_decision_cache_lookups_total\{[^}]*result="{{result}}"[^}]*\} (?<value>[0-9.e+]+)""");
            // Absent (null) when the edge sends each lease request as a call of its own.
            double? Total(string name) => text.Contains($"shopastro_decision_cache_{name}_total", StringComparison.Ordinal)
                ? Sum($$"""^shopastro_decision_cache_{{name}}_total(\{[^}]*\})? (?<value>[0-9.e+]+)""")
                : null;
            return new CacheLookups(Of("hit"), Of("absent"), Of("lease"), Of("grain"), Total("lease_requests"), Total("lease_batches"));
        }
        catch (Exception exception)
        {
            Console.WriteLine($"decision cache metrics unavailable: {exception.Message}");
            return new CacheLookups(0, 0, 0, 0, null, null);
        }
    }

    internal sealed record ColdActivations(long BeforeMeasurement, long DuringMeasurement, double PerSecond, double ShareOfChecks);

    /// <summary>
    /// How many subjects the measured window asked for the first time (so activated, reading storage): the same draws
    /// as wrk's, replayed: the preloaded subjects (active after the verification) and the warm-up come first.
    /// </summary>
    internal ColdActivations EstimateColdActivations(long warmUpRequests, long measuredRequests, double measuredSeconds)
    {
        var random = new Random(11);
        var seen = new HashSet<int>(Enumerable.Range(1, run.Profile.PreloadWrites));
        for (long i = 0; i < warmUpRequests; i++)
        {
            seen.Add(run.Keys.SampleRank(random));
        }

        var before = seen.Count;
        for (long i = 0; i < measuredRequests; i++)
        {
            seen.Add(run.Keys.SampleRank(random));
        }

        var during = seen.Count - before;
        return new ColdActivations(before - run.Profile.PreloadWrites, during, Math.Round(during / measuredSeconds),
            measuredRequests == 0 ? 0 : Math.Round((double)during / measuredRequests, 4));
    }
}
