namespace ShopAstro.LoadTests;

/// <summary>Latency against offered load: the open-loop generator at fractions of the wrk saturation rate, and the ceiling at half.</summary>
internal sealed class SweepScenario(RunContext run)
{
    internal async Task SweepAsync()
    {
        if (run.Saturation <= 0)
        {
            throw new InvalidOperationException("no saturation rate (the single-check scenario failed)");
        }

        using var client = OpenLoop.Client(64);
        HttpRequestMessage CheckRequest(string baseUrl)
        {
            var index = run.Keys.SampleIndex(Random.Shared);
            var request = new HttpRequestMessage(HttpMethod.Get,
                $"{baseUrl}/v1/stores/{KeySpace.StoreId(run.Keys.StoreOf(index))}/subjects/{KeySpace.SubjectId(index)}/decisions?purpose=analytics&purpose=cart");
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + RunContext.StorefrontToken);
            return request;
        }

        // A short open-loop warm-up of the generator's own connections.
        await OpenLoop.RunAsync("warm-up", client, _ => CheckRequest(run.EdgeUrl), Math.Max(100, run.Saturation * 0.1), TimeSpan.FromSeconds(2));
        var results = new List<OpenLoopResult>();
        OpenLoopResult? half = null;
        foreach (var fraction in run.Profile.SweepFractions)
        {
            var rate = run.Saturation * fraction;
            var from = run.Cpu.Now;
            var result = await OpenLoop.RunAsync($"edge {fraction:P0}", client, _ => CheckRequest(run.EdgeUrl), rate, run.Profile.SweepStep);
            run.Report.Cpu.Add(new CpuWindow($"open loop {fraction:P0} of saturation ({rate:N0}/s)", run.Cpu.Inside(from, run.Cpu.Now), result.AchievedPerSecond, "checks"));
            results.Add(result);
            run.Report.Chart.Add(new ChartPoint("edge open loop", result.OfferedPerSecond, result.AchievedPerSecond, result.Latency.P50, result.Latency.P99, result.Latency.Max));
            Console.WriteLine($"open loop {fraction:P0}: offered {rate:N0}/s achieved {result.AchievedPerSecond:N0}/s p50 {result.Latency.P50} p99 {result.Latency.P99} max {result.Latency.Max} ms, errors {result.Errors}");
            if (Math.Abs(fraction - 0.5) < 1e-9)
            {
                half = result;
            }
        }

        OpenLoopResult? ceilingHalf = null;
        if (half is not null && run.Ceiling is { HasExited: false })
        {
            using var ceilingClient = OpenLoop.Client(64);
            await OpenLoop.RunAsync("ceiling warm-up", ceilingClient, _ => CheckRequest(run.CeilingUrl), Math.Max(100, run.Saturation * 0.1), TimeSpan.FromSeconds(1));
            var from = run.Cpu.Now;
            ceilingHalf = await OpenLoop.RunAsync("ceiling at the edge's half rate", ceilingClient, _ => CheckRequest(run.CeilingUrl), half.OfferedPerSecond, run.Profile.SweepStep);
            run.Report.Cpu.Add(new CpuWindow($"open loop, bare Kestrel ceiling at {half.OfferedPerSecond:N0}/s", run.Cpu.Inside(from, run.Cpu.Now), ceilingHalf.AchievedPerSecond, "requests"));
            run.Report.Chart.Add(new ChartPoint("ceiling open loop", ceilingHalf.OfferedPerSecond, ceilingHalf.AchievedPerSecond, ceilingHalf.Latency.P50, ceilingHalf.Latency.P99, ceilingHalf.Latency.Max));
        }

        run.Report.Scenarios["openLoopSweep"] = new { saturation = run.Saturation, connections = 64, stepSeconds = run.Profile.SweepStep.TotalSeconds, results, ceilingAtHalf = ceilingHalf };
        if (half is not null)
        {
            run.Report.Add(new Figure("single check", $"max latency, open loop at half saturation ({half.OfferedPerSecond:N0} req/s offered)", half.Latency.Max, "ms",
                ceilingHalf?.Latency.Max, "bare Kestrel, same rate", RunReport.RatioOf(half.Latency.Max, ceilingHalf?.Latency.Max), "<= 100 ms", half.Latency.Max <= 100 && half.Errors == 0,
                $"p50 {half.Latency.P50} / p90 {half.Latency.P90} / p99 {half.Latency.P99} / p99.9 {half.Latency.P999} ms; achieved {half.AchievedPerSecond:N0}/s; errors {half.Errors}; generator dispatch lag p99 {half.DispatchLag.P99} ms"));
            run.Report.Add(new Figure("single check", "p99, open loop at half saturation", half.Latency.P99, "ms",
                ceilingHalf?.Latency.P99, "bare Kestrel, same rate", RunReport.RatioOf(half.Latency.P99, ceilingHalf?.Latency.P99), null, null));
        }
    }
}
