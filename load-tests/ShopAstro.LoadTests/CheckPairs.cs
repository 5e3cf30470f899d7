namespace ShopAstro.LoadTests;

/// <summary>One edge run and the ceiling run right after it, with their CPU windows.</summary>
internal sealed record CheckPair(WrkResult Edge, WrkResult Ceiling, CpuSampler.Usage EdgeCpu, CpuSampler.Usage CeilingCpu)
{
    public double RpsRatio => Edge.RequestsPerSecond / Math.Max(1, Ceiling.RequestsPerSecond);

    public double P99Ratio => Edge.Latency.P99 / Math.Max(0.001, Ceiling.Latency.P99);
}

/// <summary>
/// The alternating pairs of a single-check comparison and their medians: the figure is the median of the pairs' ratios
/// (the run-to-run noise of one wrk run on this machine is about ±15 %), its representative pair the one whose ratio that is.
/// </summary>
internal sealed record CheckPairs(string Label, List<CheckPair> Pairs)
{
    public double RpsRatio => Median(Pairs.Select(p => p.RpsRatio));

    public double P99Ratio => Median(Pairs.Select(p => p.P99Ratio));

    /// <summary>The pair whose checks/s ratio is the median.</summary>
    public CheckPair Median() => Medians.PairOf(Pairs, p => p.RpsRatio);

    /// <summary>The pair whose p99 ratio is the median.</summary>
    public CheckPair MedianP99() => Medians.PairOf(Pairs, p => p.P99Ratio);

    public long EdgeRequests => Pairs.Sum(p => p.Edge.Requests);

    public double EdgeSeconds => Pairs.Sum(p => p.Edge.Seconds);

    public string RatiosText(Func<CheckPair, double> ratio, Func<WrkResult, double> value, string format) =>
        Medians.RatiosText(Pairs, ratio, p => value(p.Edge), p => value(p.Ceiling), format);

    private static double Median(IEnumerable<double> values) => Medians.Of(values);
}

/// <summary>The medians of alternating pairs (product run, ceiling run), as every paired figure of the report gives them.</summary>
internal static class Medians
{
    /// <summary>The pair whose <paramref name="ratio"/> is the median (the upper one of an even count).</summary>
    public static T PairOf<T>(IReadOnlyList<T> pairs, Func<T, double> ratio) => pairs.OrderBy(ratio).ElementAt(pairs.Count / 2);

    /// <summary>Each pair as "ratio (product/ceiling)".</summary>
    public static string RatiosText<T>(IEnumerable<T> pairs, Func<T, double> ratio, Func<T, double> product, Func<T, double> ceiling, string format) =>
        string.Join(", ", pairs.Select(p => $"{ratio(p):0.###} ({product(p).ToString(format)}/{ceiling(p).ToString(format)})"));

    public static double Of(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length == 0 ? 0 : Math.Round(sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2, 3);
    }
}

/// <summary>Measures and reports the single check against the bare-Kestrel ceiling as alternating pairs, for the operator topology and the embedded default.</summary>
internal sealed class CheckComparison(RunContext run)
{
    /// <summary>edge, ceiling, edge, ceiling, ...: <see cref="Profile.CheckPairs"/> pairs of <see cref="Profile.PairDuration"/> wrk runs.</summary>
    public async Task<CheckPairs> MeasureAsync(string label)
    {
        var p = run.Profile;
        var pairs = new List<CheckPair>();
        for (var i = 0; i < p.CheckPairs; i++)
        {
            var (edge, edgeCpu) = await MeasuredRunAsync($"{label} pair {i + 1}", run.EdgeUrl);
            var (ceiling, ceilingCpu) = await MeasuredRunAsync($"ceiling pair {i + 1}", run.CeilingUrl);
            pairs.Add(new CheckPair(edge, ceiling, edgeCpu, ceilingCpu));
            Console.WriteLine($"{label} pair {i + 1}: edge {edge.RequestsPerSecond:N0} req/s p99 {edge.Latency.P99} ms, ceiling {ceiling.RequestsPerSecond:N0} req/s p99 {ceiling.Latency.P99} ms, ratio {pairs[^1].RpsRatio:0.###}");
        }

        var result = new CheckPairs(label, pairs);
        var median = result.Median();
        var w = $"wrk -t{p.WrkThreads} -c{p.WrkConnections}";
        run.Report.Cpu.Add(new CpuWindow($"single check, {label}, {w} (median pair)", median.EdgeCpu, median.Edge.RequestsPerSecond, "checks"));
        run.Report.Cpu.Add(new CpuWindow($"HTTP ceiling (bare Kestrel), {w}, next to {label} (median pair)", median.CeilingCpu, median.Ceiling.RequestsPerSecond, "requests"));
        return result;
    }

    private async Task<(WrkResult Result, CpuSampler.Usage Cpu)> MeasuredRunAsync(string name, string baseUrl)
    {
        var p = run.Profile;
        var from = run.Cpu.Now;
        var result = await Wrk.RunAsync(name, baseUrl, run.WrkScript, p.WrkThreads, p.WrkConnections, p.PairDuration, run.WrkEnvironment());
        return (result, run.Cpu.Inside(from, run.Cpu.Now));
    }

    /// <summary>
    /// The figures of a comparison: checks/s and p99 as median ratios, CPU per check (the processes of the product
    /// against the ceiling server) and bytes allocated per check (from the extra runs with the tools attached).
    /// </summary>
    public IEnumerable<Figure> Figures(
        string scenario, CheckPairs pairs, string[] productProcesses, Counters.Allocation? allocatedPerCheck, Counters.Allocation? allocatedPerCeilingRequest)
    {
        var p = run.Profile;
        var median = pairs.Median();
        var edge = median.Edge;
        var ceilingName = "bare Kestrel, same routing and JSON shape";
        yield return new Figure(scenario,
            $"HTTP checks/s (wrk -t{p.WrkThreads} -c{p.WrkConnections}, closed loop = saturation; median of {pairs.Pairs.Count} alternating edge/ceiling pairs of {p.PairDuration.TotalSeconds:0} s)",
            edge.RequestsPerSecond, "req/s", median.Ceiling.RequestsPerSecond, ceilingName, pairs.RpsRatio, ">= 0.90 of the ceiling", pairs.RpsRatio >= 0.9,
            $"pair ratios: {pairs.RatiosText(x => x.RpsRatio, r => r.RequestsPerSecond, "N0")}" +
            (pairs.Pairs.Any(x => x.Edge.Errors > 0) ? $"; errors: {string.Join("; ", pairs.Pairs.Where(x => x.Edge.Errors > 0).Select(x => x.Edge.ErrorDetail))}" : ""));
        var tail = pairs.MedianP99();
        yield return new Figure(scenario, $"p99 at {p.WrkConnections} connections (median of the pairs' ratios)", tail.Edge.Latency.P99, "ms", tail.Ceiling.Latency.P99, "bare Kestrel p99, same pair",
            pairs.P99Ratio, "<= 2x the ceiling's p99", pairs.P99Ratio <= 2,
            $"pair ratios: {pairs.RatiosText(x => x.P99Ratio, r => r.Latency.P99, "0.##")} ms; this pair's edge p50 {tail.Edge.Latency.P50} / p90 {tail.Edge.Latency.P90} / p99.9 {tail.Edge.Latency.P999} / max {tail.Edge.Latency.Max} ms");
        var productCpu = CpuMicros(median.EdgeCpu, edge.RequestsPerSecond, productProcesses);
        var ceilingCpu = CpuMicros(median.CeilingCpu, median.Ceiling.RequestsPerSecond, ["ceiling server"]);
        yield return new Figure(scenario, $"CPU per check ({string.Join(" + ", productProcesses)}; median pair)", productCpu, "µs", ceilingCpu, "ceiling server per request",
            RunReport.RatioOf(productCpu, ceilingCpu), null, null);
        if (allocatedPerCheck is { } allocated)
        {
            var ceiling = allocatedPerCeilingRequest?.Source == allocated.Source ? allocatedPerCeilingRequest : null;
            yield return new Figure(scenario, $"bytes allocated per check ({allocated.Source})", allocated.PerRequest, "B",
                ceiling?.PerRequest, "ceiling server per request, same way", RunReport.RatioOf(allocated.PerRequest, ceiling?.PerRequest), "aim: < 1 KB (1,024 B)",
                allocated.PerRequest < 1024, $"edge: {allocated.Detail}" + (ceiling is null ? "" : $"; ceiling server: {ceiling.Detail}"));
        }
    }

    private static double CpuMicros(CpuSampler.Usage usage, double perSecond, string[] processes) =>
        perSecond > 0 ? Math.Round(processes.Sum(g => usage.GroupPercent.GetValueOrDefault(g)) / 100 * 1e6 / perSecond, 2) : 0;
}
