using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace ShopAstro.LoadTests;

/// <summary>
/// POST /decisions/batch with 10,000 items, 4 concurrent, next to the batch ceiling: the ceiling server parsing the same
/// bodies with a source-generated context and answering each item from a Dictionary of the run's key space.
/// </summary>
internal sealed class BatchScenario(RunContext run)
{
    internal sealed record Body(string Store, byte[] Json);

    internal sealed record BatchRun(
        string Target, long Requests, double Seconds, double DecisionsPerSecond, LatencySummary RequestLatency, double ColdFirstPassSeconds,
        [property: System.Text.Json.Serialization.JsonIgnore] CpuSampler.Usage Cpu);

    internal async Task BatchAsync()
    {
        var p = run.Profile;
        var (bodies, distinct) = Bodies();
        run.BatchDistinct = distinct;
        var edge = await MeasureAsync("batch, edge", run.EdgeUrl, bodies);
        BatchRun? ceiling = null;
        if (run.Ceiling is { HasExited: false })
        {
            ceiling = await MeasureAsync("batch ceiling (bare Kestrel + Dictionary)", run.CeilingUrl, bodies);
        }

        run.Report.Scenarios["batch"] = new
        {
            items = p.BatchItems, concurrency = p.BatchConcurrency, distinctSubjectsPerBatch = Math.Round(run.BatchDistinct), bodyBytes = bodies[0].Json.Length,
            edge, ceiling,
        };
        run.Report.Add(Figure("batch", edge, ceiling));
    }

    /// <summary>The batch figure: edge decisions/s against the batch ceiling's, target 0.80 of it.</summary>
    internal Figure Figure(string scenario, BatchRun edge, BatchRun? ceiling)
    {
        var p = run.Profile;
        var ratio = RunReport.RatioOf(edge.DecisionsPerSecond, ceiling?.DecisionsPerSecond);
        return new Figure(scenario, $"decisions/s through /decisions/batch ({p.BatchItems:N0} items, {p.BatchConcurrency} concurrent)", edge.DecisionsPerSecond, "decisions/s",
            ceiling?.DecisionsPerSecond, "bare Kestrel parsing the same bodies, answering from a Dictionary of the key space", ratio, ">= 0.80 of the ceiling", ratio >= 0.8,
            $"request p50 {edge.RequestLatency.P50} / p99 {edge.RequestLatency.P99} / max {edge.RequestLatency.Max} ms" +
            (ceiling is null ? "" : $"; ceiling request p50 {ceiling.RequestLatency.P50} / p99 {ceiling.RequestLatency.P99} ms"));
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

    /// <summary>One warm-up pass over every body (the steady state of a pipeline that runs all day), then <see cref="Profile.BatchConcurrency"/> senders for <see cref="Profile.BatchDuration"/>.</summary>
    internal async Task<BatchRun> MeasureAsync(string target, string baseUrl, Body[] bodies)
    {
        var p = run.Profile;
        using var http = run.Http(baseUrl, RunContext.StorefrontToken, p.BatchConcurrency);
        async Task Send(int b)
        {
            using var content = new ByteArrayContent(bodies[b].Json);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync($"/v1/stores/{bodies[b].Store}/decisions/batch", content);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"{target} answered {(int)response.StatusCode}: {Encoding.UTF8.GetString(bytes.AsSpan(0, Math.Min(400, bytes.Length)))}");
            }
        }

        var warmWatch = Stopwatch.StartNew();
        for (var b = 0; b < bodies.Length; b++)
        {
            await Send(b);
        }

        var coldSeconds = warmWatch.Elapsed.TotalSeconds;
        var histogram = new MicrosHistogram();
        long requests = 0, next = 0;
        var from = run.Cpu.Now;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, p.BatchConcurrency).Select(async _ =>
        {
            await Task.Yield();
            while (watch.Elapsed < p.BatchDuration)
            {
                var b = (int)(Interlocked.Increment(ref next) % bodies.Length);
                var started = Stopwatch.GetTimestamp();
                await Send(b);
                histogram.RecordTicks(Stopwatch.GetTimestamp() - started);
                Interlocked.Increment(ref requests);
            }
        }));
        var seconds = watch.Elapsed.TotalSeconds;
        var decisionsPerSecond = Math.Round(requests * p.BatchItems / seconds);
        var usage = run.Cpu.Inside(from, run.Cpu.Now);
        run.Report.Cpu.Add(new CpuWindow($"{target}, {p.BatchConcurrency} concurrent × {p.BatchItems:N0} items", usage, decisionsPerSecond, "decisions"));
        Console.WriteLine($"{target}: {decisionsPerSecond:N0} decisions/s");
        return new BatchRun(target, requests, Math.Round(seconds, 2), decisionsPerSecond, histogram.Summary(), Math.Round(coldSeconds, 2), usage);
    }
}
