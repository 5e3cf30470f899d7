using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace ShopAstro.LoadTests;

/// <summary>
/// POST /decisions/batch with 10,000 items, 4 concurrent, next to the batch ceiling: the ceiling server parsing the same
/// bodies with a source-generated context and answering each item from a Dictionary of the run's key space. Measured in
/// alternating pairs (product, ceiling, product, ...), as the single check and the writes are: with one run of each, two
/// full runs a few hours apart gave the embedded batch 0.975 and 0.707 of its ceiling, its batch path unchanged between them.
/// </summary>
internal sealed class BatchScenario(RunContext run, Cluster cluster)
{
    internal sealed record Body(string Store, byte[] Json);

    internal sealed record BatchRun(
        string Target, long Requests, double Seconds, double DecisionsPerSecond, LatencySummary RequestLatency,
        [property: System.Text.Json.Serialization.JsonIgnore] CpuSampler.Usage Cpu);

    /// <summary>One product run and the ceiling run right after it.</summary>
    internal sealed record BatchPair(BatchRun Product, BatchRun Ceiling)
    {
        public double Ratio => Product.DecisionsPerSecond / Math.Max(1, Ceiling.DecisionsPerSecond);
    }

    /// <summary>The pairs of one comparison; without a ceiling server, one product run and no pair.</summary>
    internal sealed record BatchPairs(List<BatchPair> Pairs, BatchRun? Alone, double ProductColdSeconds, double? CeilingColdSeconds)
    {
        public double? Ratio => Pairs.Count == 0 ? null : Medians.Of(Pairs.Select(p => p.Ratio));

        /// <summary>The pair whose ratio is the median.</summary>
        public BatchPair? Median => Pairs.Count == 0 ? null : Medians.PairOf(Pairs, p => p.Ratio);

        public BatchRun Product => Median?.Product ?? Alone!;

        /// <summary>For report.json.</summary>
        public object Summary => new
        {
            productColdFirstPassSeconds = ProductColdSeconds, ceilingColdFirstPassSeconds = CeilingColdSeconds,
            pairs = Pairs.Select(p => new { product = p.Product, ceiling = p.Ceiling, ratio = Math.Round(p.Ratio, 3) }),
            medianRatio = Ratio, alone = Alone,
        };
    }

    internal async Task BatchAsync()
    {
        var p = run.Profile;
        // Started by the single check, unless only the batch runs (--only batch).
        await cluster.EnsureCeilingAsync();

        var (bodies, distinct) = Bodies();
        run.BatchDistinct = distinct;
        var pairs = await MeasurePairsAsync("batch, edge", run.EdgeUrl, "batch ceiling (bare Kestrel + Dictionary)", bodies);
        run.Report.Scenarios["batch"] = new
        {
            items = p.BatchItems, concurrency = p.BatchConcurrency, distinctSubjectsPerBatch = Math.Round(run.BatchDistinct), bodyBytes = bodies[0].Json.Length,
            measured = pairs.Summary,
        };
        run.Report.Add(Figure("batch", pairs));
    }

    /// <summary>The batch figure: product decisions/s against the batch ceiling's (median of the pairs' ratios), target 0.80 of it.</summary>
    internal Figure Figure(string scenario, BatchPairs pairs)
    {
        var p = run.Profile;
        var product = pairs.Product;
        var ceiling = pairs.Median?.Ceiling;
        var ratio = pairs.Ratio;
        return new Figure(scenario,
            $"decisions/s through /decisions/batch ({p.BatchItems:N0} items, {p.BatchConcurrency} concurrent" +
            (pairs.Pairs.Count > 0 ? $"; median of {pairs.Pairs.Count} alternating pairs of {(p.BatchDuration / p.BatchPairs).TotalSeconds:0.#} s)" : ")"),
            product.DecisionsPerSecond, "decisions/s",
            ceiling?.DecisionsPerSecond, "bare Kestrel parsing the same bodies, answering from a Dictionary of the key space", ratio, ">= 0.80 of the ceiling", ratio >= 0.8,
            (pairs.Pairs.Count > 0 ? $"pair ratios: {Medians.RatiosText(pairs.Pairs, x => x.Ratio, x => x.Product.DecisionsPerSecond, x => x.Ceiling.DecisionsPerSecond, "N0")}; this pair's " : "") +
            $"request p50 {product.RequestLatency.P50} / p99 {product.RequestLatency.P99} / max {product.RequestLatency.Max} ms" +
            (ceiling is null ? "" : $"; ceiling request p50 {ceiling.RequestLatency.P50} / p99 {ceiling.RequestLatency.P99} ms"));
    }

    /// <summary>
    /// One unmeasured pass over every body on each target (the steady state of a pipeline that runs all day) and one
    /// unmeasured run of a pair's side on each, then
    /// <see cref="Profile.BatchPairs"/> pairs: the product, then the ceiling, each for its share of <see cref="Profile.BatchDuration"/>.
    /// The CPU windows reported are the median pair's.
    /// </summary>
    internal async Task<BatchPairs> MeasurePairsAsync(string product, string productUrl, string ceiling, Body[] bodies)
    {
        var p = run.Profile;
        using var productHttp = run.Http(productUrl, RunContext.StorefrontToken, p.BatchConcurrency);
        var productCold = await FirstPassAsync(product, productHttp, bodies);
        if (run.Ceiling is not { HasExited: false })
        {
            var alone = await RunAsync(product, productHttp, bodies, p.BatchDuration);
            AddCpu(alone);
            return new BatchPairs([], alone, productCold, null);
        }

        using var ceilingHttp = run.Http(run.CeilingUrl, RunContext.StorefrontToken, p.BatchConcurrency);
        var ceilingCold = await FirstPassAsync(ceiling, ceilingHttp, bodies);
        var pairs = new List<BatchPair>();
        var side = p.BatchDuration / p.BatchPairs;
        // Unmeasured, one side's length each: after one pass the ceiling still sped up through the first pair
        // (529,307 then 810,742-1,121,673 decisions/s), so the first pair's ratio stood well above the others'.
        await RunAsync(product + " (warm-up)", productHttp, bodies, side);
        await RunAsync(ceiling + " (warm-up)", ceilingHttp, bodies, side);
        for (var i = 0; i < p.BatchPairs; i++)
        {
            var pair = new BatchPair(
                await RunAsync(product, productHttp, bodies, side),
                await RunAsync(ceiling, ceilingHttp, bodies, side));
            pairs.Add(pair);
            Console.WriteLine($"{product} pair {i + 1}: {pair.Product.DecisionsPerSecond:N0} decisions/s, ceiling {pair.Ceiling.DecisionsPerSecond:N0}, ratio {pair.Ratio:0.###}");
        }

        var result = new BatchPairs(pairs, null, productCold, ceilingCold);
        AddCpu(result.Median!.Product, " (median pair)");
        AddCpu(result.Median.Ceiling, " (median pair)");
        return result;
    }

    private void AddCpu(BatchRun measured, string suffix = "")
    {
        var p = run.Profile;
        run.Report.Cpu.Add(new CpuWindow($"{measured.Target}, {p.BatchConcurrency} concurrent × {p.BatchItems:N0} items{suffix}", measured.Cpu, measured.DecisionsPerSecond, "decisions"));
    }

    /// <summary>8 bodies of <see cref="Profile.BatchItems"/> items, each of one store (skewed subjects, analytics/recommendation), the same for every target.</summary>
    internal (Body[] Bodies, double DistinctSubjects) Bodies()
    {
        var p = run.Profile;
        var random = new Random(7);
        var distinctSubjects = new List<int>();
        var bodies = Enumerable.Range(0, 8).Select(b =>
        {
            var store = b % p.Stores;
            var json = new StringBuilder("{\"items\":[");
            var subjects = new HashSet<int>();
            for (var i = 0; i < p.BatchItems; i++)
            {
                var index = run.Keys.SampleIndexInStore(random, store);
                subjects.Add(index);
                json.Append(i == 0 ? "" : ",").Append("{\"subjectId\":\"").Append(KeySpace.SubjectId(index)).Append("\",\"purpose\":\"")
                    .Append(i % 3 == 0 ? "analytics" : "recommendation").Append("\"}");
            }

            json.Append("],\"signals\":{\"dnt\":false,\"gpc\":false}}");
            distinctSubjects.Add(subjects.Count);
            return new Body(KeySpace.StoreId(store), Encoding.UTF8.GetBytes(json.ToString()));
        }).ToArray();
        return (bodies, distinctSubjects.Average());
    }

    /// <summary>Every body once, one after the other: the seconds it took (the first pass warms the target's caches).</summary>
    private static async Task<double> FirstPassAsync(string target, HttpClient http, Body[] bodies)
    {
        var watch = Stopwatch.StartNew();
        for (var b = 0; b < bodies.Length; b++)
        {
            await SendAsync(target, http, bodies[b]);
        }

        return Math.Round(watch.Elapsed.TotalSeconds, 2);
    }

    /// <summary><see cref="Profile.BatchConcurrency"/> senders for <paramref name="duration"/>, going round the bodies.</summary>
    private async Task<BatchRun> RunAsync(string target, HttpClient http, Body[] bodies, TimeSpan duration)
    {
        var p = run.Profile;
        var histogram = new MicrosHistogram();
        long requests = 0, next = 0;
        var from = run.Cpu.Now;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, p.BatchConcurrency).Select(async _ =>
        {
            await Task.Yield();
            while (watch.Elapsed < duration)
            {
                var b = (int)(Interlocked.Increment(ref next) % bodies.Length);
                var started = Stopwatch.GetTimestamp();
                await SendAsync(target, http, bodies[b]);
                histogram.RecordTicks(Stopwatch.GetTimestamp() - started);
                Interlocked.Increment(ref requests);
            }
        }));
        var seconds = watch.Elapsed.TotalSeconds;
        var decisionsPerSecond = Math.Round(requests * p.BatchItems / seconds);
        var usage = run.Cpu.Inside(from, run.Cpu.Now);
        Console.WriteLine($"{target}: {decisionsPerSecond:N0} decisions/s");
        return new BatchRun(target, requests, Math.Round(seconds, 2), decisionsPerSecond, histogram.Summary(), usage);
    }

    private static async Task SendAsync(string target, HttpClient http, Body body)
    {
        using var content = new ByteArrayContent(body.Json);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await http.PostAsync($"/v1/stores/{body.Store}/decisions/batch", content);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"{target} answered {(int)response.StatusCode}: {Encoding.UTF8.GetString(bytes.AsSpan(0, Math.Min(400, bytes.Length)))}");
        }
    }
}
