namespace ShopAstro.LoadTests;

/// <summary>
/// Latency against offered load: the open-loop generator (a process of its own, <see cref="OpenLoopProcess"/>) at
/// fractions of the wrk saturation rate, and the ceiling at half.
/// </summary>
internal sealed class SweepScenario(RunContext run)
{
    internal async Task SweepAsync()
    {
        if (run.Saturation <= 0)
        {
            throw new InvalidOperationException("no saturation rate (the single-check scenario failed)");
        }

        await using var generator = OpenLoopProcess.Start(run.Options.HarnessDll, run.Keys, Path.Combine(run.Logs, "open-loop.log"));
        run.Cpu.Track("generator", generator.Pid);
        // A short open-loop warm-up of the generator: its JIT and its own connections.
        await generator.RunAsync("warm-up", run.EdgeUrl, Math.Max(100, run.Saturation * 0.1), TimeSpan.FromSeconds(2));
        run.Report.Machine["open-loop generator"] = generator.Description;
        var results = new List<OpenLoopResult>();
        OpenLoopResult? half = null;
        foreach (var fraction in run.Profile.SweepFractions)
        {
            var rate = run.Saturation * fraction;
            var from = run.Cpu.Now;
            var result = await generator.RunAsync($"edge {fraction:P0}", run.EdgeUrl, rate, run.Profile.SweepStep);
            run.Report.Cpu.Add(new CpuWindow($"open loop {fraction:P0} of saturation ({rate:N0}/s)", run.Cpu.Inside(from, run.Cpu.Now), result.AchievedPerSecond, "checks"));
            results.Add(result);
            run.Report.Chart.Add(new ChartPoint("edge open loop", result.OfferedPerSecond, result.AchievedPerSecond, result.Latency.P50, result.Latency.P99, result.Latency.Max));
            Console.WriteLine($"open loop {fraction:P0}: offered {rate:N0}/s achieved {result.AchievedPerSecond:N0}/s p50 {result.Latency.P50} p99 {result.Latency.P99} max {result.Latency.Max} ms, errors {result.Errors}; " +
                              $"dispatch lag max {result.DispatchLag.Max} ms, generator GC pauses {result.GeneratorGcPauseMs} ms ({result.GeneratorGen2Collections} full)");
            if (Math.Abs(fraction - 0.5) < 1e-9)
            {
                half = result;
            }
        }

        OpenLoopResult? ceilingHalf = null;
        if (half is not null && run.Ceiling is { HasExited: false })
        {
            await generator.RunAsync("ceiling warm-up", run.CeilingUrl, Math.Max(100, run.Saturation * 0.1), TimeSpan.FromSeconds(1));
            var from = run.Cpu.Now;
            ceilingHalf = await generator.RunAsync("ceiling at the edge's half rate", run.CeilingUrl, half.OfferedPerSecond, run.Profile.SweepStep);
            run.Report.Cpu.Add(new CpuWindow($"open loop, bare Kestrel ceiling at {half.OfferedPerSecond:N0}/s", run.Cpu.Inside(from, run.Cpu.Now), ceilingHalf.AchievedPerSecond, "requests"));
            run.Report.Chart.Add(new ChartPoint("ceiling open loop", ceilingHalf.OfferedPerSecond, ceilingHalf.AchievedPerSecond, ceilingHalf.Latency.P50, ceilingHalf.Latency.P99, ceilingHalf.Latency.Max));
        }

        run.Report.Scenarios["openLoopSweep"] = new { saturation = run.Saturation, connections = OpenLoopProcess.Connections, stepSeconds = run.Profile.SweepStep.TotalSeconds, results, ceilingAtHalf = ceilingHalf };
        if (half is not null)
        {
            run.Report.Add(new Figure("single check", $"max latency, open loop at half saturation ({half.OfferedPerSecond:N0} req/s offered)", half.Latency.Max, "ms",
                ceilingHalf?.Latency.Max, "bare Kestrel, same rate", RunReport.RatioOf(half.Latency.Max, ceilingHalf?.Latency.Max), "<= 100 ms", half.Latency.Max <= 100 && half.Errors == 0,
                $"p50 {half.Latency.P50} / p90 {half.Latency.P90} / p99 {half.Latency.P99} / p99.9 {half.Latency.P999} ms; achieved {half.AchievedPerSecond:N0}/s; errors {half.Errors}; generator dispatch lag p99 {half.DispatchLag.P99} / max {half.DispatchLag.Max} ms, its GC pauses {half.GeneratorGcPauseMs} ms" +
                (ceilingHalf is null ? "" : $"; in the ceiling's run: generator dispatch lag max {ceilingHalf.DispatchLag.Max} ms, its GC pauses {ceilingHalf.GeneratorGcPauseMs} ms")));
            run.Report.Add(new Figure("single check", "p99, open loop at half saturation", half.Latency.P99, "ms",
                ceilingHalf?.Latency.P99, "bare Kestrel, same rate", RunReport.RatioOf(half.Latency.P99, ceilingHalf?.Latency.P99), null, null));
        }
    }
}
