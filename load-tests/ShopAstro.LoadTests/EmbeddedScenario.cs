namespace ShopAstro.LoadTests;

/// <summary>
/// The embedded default, after the operator topology is stopped: the edge alone as <c>dotnet run --project EdgeApi</c>
/// runs it (its silo in process, SQLite in a temporary folder, no Redis), the hottest subjects preloaded with consents,
/// then the single check (alternating pairs against the same ceiling server) and the batch (against the batch ceiling).
/// Its figures go to their own section of the report.
/// </summary>
internal sealed class EmbeddedScenario(RunContext run, Cluster cluster, Profiler profiler, Counters counters)
{
    private const string Section = "embedded default";

    public async Task RunAsync()
    {
        var p = run.Profile;
        await cluster.StopClusterAsync();
        await cluster.EnsureCeilingAsync();

        var folder = Path.Combine(Path.GetTempPath(), "shopastro-load-embedded-" + run.Stamp);
        try
        {
            var readySeconds = await cluster.StartEmbeddedAsync(folder);
            await cluster.PublishPoliciesAsync();
            var writes = await new WritesScenario(run, cluster, profiler).WriteHottestAsync(p.EmbeddedPreload);
            var writesPerSecond = Math.Round(writes.Acked / writes.Seconds, 1);
            run.Report.Cpu.Add(new CpuWindow("embedded default: first writes (PUT consents, SQLite)", writes.Cpu, writesPerSecond, "writes"));
            run.Report.EmbeddedFigures.Add(new Figure(Section, $"PUT consents/s on SQLite ({p.WriteConcurrency} concurrent, {p.EmbeddedPreload:N0} first writes: the preload)",
                writesPerSecond, "writes/s", null, null, null, null, null,
                $"p50 {writes.Latency.P50} / p99 {writes.Latency.P99} / max {writes.Latency.Max} ms; {p.EmbeddedPreload - writes.Acked} not acknowledged"));

            // The single check: warm-up of both, then alternating pairs.
            await Wrk.RunAsync("embedded edge warm-up", run.EdgeUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, p.WrkWarmup, run.WrkEnvironment());
            await Wrk.RunAsync("ceiling warm-up", run.CeilingUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, TimeSpan.FromSeconds(3), run.WrkEnvironment());
            var comparison = new CheckComparison(run);
            var pairs = await comparison.MeasureAsync("embedded edge");
            var attached = await counters.AttachedCheckRunAsync("embedded edge", run.EdgeUrl, Counters.Edge("edge (embedded)", run.Edge!.Pid));
            foreach (var figure in comparison.Figures(Section, pairs, ["edge"],
                         counters.AllocationOf("edge (embedded)", attached), run.CeilingAllocatedPerRequest))
            {
                run.Report.EmbeddedFigures.Add(figure);
            }

            // The batch, against the batch ceiling measured again beside it.
            var batches = new BatchScenario(run, cluster);
            var (bodies, _) = batches.Bodies();
            var batch = await batches.MeasurePairsAsync("batch, embedded edge", run.EdgeUrl, "batch ceiling, next to the embedded edge", bodies);
            run.Report.EmbeddedFigures.Add(batches.Figure(Section, batch));

            run.Report.Scenarios["embeddedDefault"] = new
            {
                how = "dotnet <EdgeApi.dll> alone: the silo in process, SQLite (ConnectionStrings__Consent=Data Source=<temporary folder>/consent.db), no Redis, the two tokens, rate limits raised",
                readySeconds, preload = new { writes = p.EmbeddedPreload, acknowledged = writes.Acked, seconds = Math.Round(writes.Seconds, 2), writes.Latency, writes.Statuses },
                pairs = pairs.Pairs.Select(x => new { x.Edge, x.Ceiling, rpsRatio = Math.Round(x.RpsRatio, 3), p99Ratio = Math.Round(x.P99Ratio, 3) }),
                medianRpsRatio = pairs.RpsRatio, medianP99Ratio = pairs.P99Ratio, countersRun = attached,
                batch = batch.Summary,
            };
        }
        finally
        {
            await cluster.StopClusterAsync();
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception)
            {
            }
        }
    }
}
