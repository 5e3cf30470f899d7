namespace ShopAstro.LoadTests;

/// <summary>The single check under wrk, next to the bare-Kestrel ceiling; the hot-set diagnostic; the edge decision-cache counts.</summary>
internal sealed class CheckScenario(RunContext run, Profiler profiler, Counters counters)
{
    internal async Task SingleCheckAsync()
    {
        var p = run.Profile;
        // Warm-up: JIT, connection pools, and the hot subjects' activations (a real edge has them).
        var warm = await Wrk.RunAsync("edge warm-up", run.EdgeUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, p.WrkWarmup, run.WrkEnvironment());
        Console.WriteLine($"warm-up: {warm.RequestsPerSecond:N0} req/s");

        var lookupsBefore = await CacheLookupsAsync();
        var from = run.Cpu.Now;
        var edge = await Wrk.RunAsync("edge", run.EdgeUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, p.WrkDuration, run.WrkEnvironment());
        var lookups = (await CacheLookupsAsync()).Subtract(lookupsBefore);
        run.Report.Cpu.Add(new CpuWindow($"single check, edge, wrk -t{p.WrkThreads} -c{p.WrkConnections}", run.Cpu.Between(from + 0.5, run.Cpu.Now - 0.5), edge.RequestsPerSecond, "checks"));
        run.Saturation = edge.RequestsPerSecond;
        Console.WriteLine($"edge: {edge.RequestsPerSecond:N0} req/s, p99 {edge.Latency.P99} ms");
        var activations = EstimateColdActivations(warm.Requests, edge.Requests);

        // dotnet-counters during an extra run of the same load: its in-process listener sees every measurement of
        // every instrument, which would slow the measured run and not the ceiling's.
        var attached = counters.StartCounters(p.WrkDuration);
        await Wrk.RunAsync("edge, dotnet-counters attached", run.EdgeUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, p.WrkDuration, run.WrkEnvironment());
        await counters.CollectCountersAsync(attached);
        await profiler.ProfileChecksAsync();

        // Diagnostic: the same route on a small hot set whose grains are all active, i.e. no activations and no storage.
        var hotEnvironment = run.WrkEnvironment();
        hotEnvironment["LT_SUBJECTS"] = "1000";
        await Wrk.RunAsync("edge hot-set warm-up", run.EdgeUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, TimeSpan.FromSeconds(3), hotEnvironment);
        from = run.Cpu.Now;
        var hot = await Wrk.RunAsync("edge, 1,000 active subjects", run.EdgeUrl, run.WrkScript, p.WrkThreads, p.WrkConnections,
            TimeSpan.FromSeconds(Math.Max(6, p.WrkDuration.TotalSeconds / 2)), hotEnvironment);
        run.Report.Cpu.Add(new CpuWindow($"single check, edge, 1,000 active subjects only (diagnostic)", run.Cpu.Between(from + 0.5, run.Cpu.Now - 0.5), hot.RequestsPerSecond, "checks"));
        Console.WriteLine($"edge hot set: {hot.RequestsPerSecond:N0} req/s, p99 {hot.Latency.P99} ms");

        // The HTTP ceiling, measured the same way.
        var ceilingPort = ServiceProcess.FreePort();
        run.CeilingUrl = $"http://127.0.0.1:{ceilingPort}";
        run.Ceiling = ServiceProcess.Start("ceiling", run.Options.HarnessDll, new Dictionary<string, string>(), Path.Combine(run.Logs, "ceiling.log"),
            "ceiling-server", "--port", ceilingPort.ToString());
        run.Started.Add(run.Ceiling);
        run.Cpu.Track("ceiling server", run.Ceiling.Pid);
        await run.Ceiling.WaitForHttpAsync(run.CeilingUrl + "/health/ready", TimeSpan.FromSeconds(30));
        await Wrk.RunAsync("ceiling warm-up", run.CeilingUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, TimeSpan.FromSeconds(3), run.WrkEnvironment());
        from = run.Cpu.Now;
        var ceiling = await Wrk.RunAsync("bare Kestrel ceiling", run.CeilingUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, p.WrkDuration, run.WrkEnvironment());
        run.Report.Cpu.Add(new CpuWindow($"HTTP ceiling (bare Kestrel), wrk -t{p.WrkThreads} -c{p.WrkConnections}", run.Cpu.Between(from + 0.5, run.Cpu.Now - 0.5), ceiling.RequestsPerSecond, "requests"));
        run.CeilingRps = ceiling.RequestsPerSecond;
        run.CeilingP99 = ceiling.Latency.P99;

        run.Report.Scenarios["singleCheck"] = new { edge, ceiling, hotSetDiagnostic = hot, estimatedColdActivations = activations, warmUp = warm, zipf = new { run.Keys.S, run.Keys.Subjects, run.Keys.Stores, hotSetPreloaded = p.PreloadWrites, shareOfChecksOnPreloaded = Math.Round(run.Keys.MassOfTop(p.PreloadWrites), 3) } };
        run.Report.Chart.Add(new ChartPoint("edge wrk c64 (closed loop)", edge.RequestsPerSecond, edge.RequestsPerSecond, edge.Latency.P50, edge.Latency.P99, edge.Latency.Max));
        run.Report.Chart.Add(new ChartPoint("ceiling wrk c64 (closed loop)", ceiling.RequestsPerSecond, ceiling.RequestsPerSecond, ceiling.Latency.P50, ceiling.Latency.P99, ceiling.Latency.Max));
        var ratio = RunReport.RatioOf(edge.RequestsPerSecond, ceiling.RequestsPerSecond);
        run.Report.Add(new Figure("single check", $"HTTP checks/s (wrk -t{p.WrkThreads} -c{p.WrkConnections}, closed loop = saturation)", edge.RequestsPerSecond, "req/s",
            ceiling.RequestsPerSecond, "bare Kestrel constant decision", ratio, ">= 90 % of the ceiling", ratio >= 0.9,
            edge.Errors > 0 ? $"errors: {edge.ErrorDetail}" : null));
        run.Report.Add(new Figure("single check", $"p99 at {p.WrkConnections} connections", edge.Latency.P99, "ms", ceiling.Latency.P99, "bare Kestrel p99",
            RunReport.RatioOf(edge.Latency.P99, ceiling.Latency.P99), "<= 5 ms", edge.Latency.P99 <= 5,
            $"p50 {edge.Latency.P50} / p90 {edge.Latency.P90} / p99.9 {edge.Latency.P999} / max {edge.Latency.Max} ms"));
        run.Report.Add(new Figure("single check", "diagnostic: HTTP checks/s when only 1,000 subjects are asked (all active: no activation, no storage)", hot.RequestsPerSecond, "req/s",
            ceiling.RequestsPerSecond, "bare Kestrel constant decision", RunReport.RatioOf(hot.RequestsPerSecond, ceiling.RequestsPerSecond), null, null,
            $"p50 {hot.Latency.P50} / p99 {hot.Latency.P99} / max {hot.Latency.Max} ms"));
        run.Report.Add(new Figure("single check", "checks answered at the edge without a grain call during the measured window", lookups.HereShare * 100, "%",
            null, null, null, null, null,
            $"{lookups.Hit:N0} from a subject lease held, {lookups.Absent:N0} from the store's absence lease (no record: no activation, no database read), " +
            $"{lookups.Lease:N0} took a new subject lease (first ask of a subject with a record, or its 5 s lease ran out), {lookups.Grain:N0} decided by the grain"));
        run.Report.Add(new Figure("single check", "never-asked subjects checked during the measured window (estimated from the key space)", activations.DuringMeasurement, "subjects",
            null, null, null, null, null, $"≈ {activations.PerSecond:N0}/s, {activations.ShareOfChecks:P1} of the window's checks; " +
            "without the absence leases each was an activation (a PostgreSQL read and a store-lease call)"));
        run.Report.Add(new Figure("single check", $"p99.9 at {p.WrkConnections} connections", edge.Latency.P999, "ms", ceiling.Latency.P999, "bare Kestrel p99.9",
            RunReport.RatioOf(edge.Latency.P999, ceiling.Latency.P999), null, null));
        run.Report.Add(new Figure("single check", $"max at {p.WrkConnections} connections", edge.Latency.Max, "ms", ceiling.Latency.Max, "bare Kestrel max",
            RunReport.RatioOf(edge.Latency.Max, ceiling.Latency.Max), null, null));
    }

    internal sealed record CacheLookups(double Hit, double Absent, double Lease, double Grain)
    {
        private double Total => Hit + Absent + Lease + Grain;

        public double HereShare => Total > 0 ? Math.Round((Hit + Absent) / Total, 4) : 0;

        public CacheLookups Subtract(CacheLookups before) =>
            new(Hit - before.Hit, Absent - before.Absent, Lease - before.Lease, Grain - before.Grain);
    }

    /// <summary>The edge's decision-cache lookups so far, from its Prometheus endpoint.</summary>
    internal async Task<CacheLookups> CacheLookupsAsync()
    {
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(run.EdgeUrl), Timeout = TimeSpan.FromSeconds(10) };
            var text = await client.GetStringAsync("/metrics");
            double Of(string result) => System.Text.RegularExpressions.Regex.Matches(text,
                    $$"""^shopastro_decision_cache_lookups_total\{[^}]*result="{{result}}"[^}]*\} (?<value>[0-9.e+]+)""",
                    System.Text.RegularExpressions.RegexOptions.Multiline)
                .Sum(m => double.Parse(m.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture));
            return new CacheLookups(Of("hit"), Of("absent"), Of("lease"), Of("grain"));
        }
        catch (Exception exception)
        {
            Console.WriteLine($"decision cache metrics unavailable: {exception.Message}");
            return new CacheLookups(0, 0, 0, 0);
        }
    }

    internal sealed record ColdActivations(long BeforeMeasurement, long DuringMeasurement, double PerSecond, double ShareOfChecks);

    /// <summary>
    /// How many subjects the measured window asked for the first time (so activated, reading storage): the same draws
    /// as wrk's, replayed: the preloaded subjects (active after the verification) and the warm-up come first.
    /// </summary>
    internal ColdActivations EstimateColdActivations(long warmUpRequests, long measuredRequests)
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
        return new ColdActivations(before - run.Profile.PreloadWrites, during, Math.Round(during / run.Profile.WrkDuration.TotalSeconds),
            measuredRequests == 0 ? 0 : Math.Round((double)during / measuredRequests, 4));
    }
}
