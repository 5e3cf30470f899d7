using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace ShopAstro.LoadTests;

/// <summary>POST /decisions/batch with 10,000 items, 4 concurrent.</summary>
internal sealed class BatchScenario(RunContext run)
{
    internal async Task BatchAsync()
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
            return (Store: KeySpace.StoreId(store), Body: Encoding.UTF8.GetBytes(json.ToString()));
        }).ToArray();
        run.BatchDistinct = distinctSubjects.Average();

        using var http = run.Http(run.EdgeUrl, RunContext.StorefrontToken, p.BatchConcurrency);
        async Task<bool> Send(int b)
        {
            using var content = new ByteArrayContent(bodies[b].Body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync($"/v1/stores/{bodies[b].Store}/decisions/batch", content);
            var bytes = await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"batch answered {(int)response.StatusCode}: {Encoding.UTF8.GetString(bytes.AsSpan(0, Math.Min(400, bytes.Length)))}");
            }

            return true;
        }

        // Warm-up: every body once, so its subjects are active (the steady state of a pipeline that runs all day).
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
        var decisionsPerSecond = requests * p.BatchItems / seconds;
        run.Report.Cpu.Add(new CpuWindow($"batch, {p.BatchConcurrency} concurrent × {p.BatchItems:N0} items", run.Cpu.Between(from + 0.5, run.Cpu.Now - 0.5), Math.Round(decisionsPerSecond), "decisions"));
        var latency = histogram.Summary();
        run.Report.Scenarios["batch"] = new
        {
            items = p.BatchItems, concurrency = p.BatchConcurrency, requests, seconds = Math.Round(seconds, 2),
            decisionsPerSecond = Math.Round(decisionsPerSecond), requestLatency = latency, distinctSubjectsPerBatch = Math.Round(run.BatchDistinct),
            coldFirstPassSeconds = Math.Round(coldSeconds, 2), bodyBytes = bodies[0].Body.Length,
        };
        run.Report.Add(new Figure("batch", $"decisions/s through /decisions/batch ({p.BatchItems:N0} items, {p.BatchConcurrency} concurrent)", Math.Round(decisionsPerSecond), "decisions/s",
            run.DictionaryLookups > 0 ? run.DictionaryLookups : null, "in-process Dictionary lookups/s", null, ">= 1,000,000 decisions/s", decisionsPerSecond >= 1_000_000,
            $"request p50 {latency.P50} / p99 {latency.P99} / max {latency.Max} ms"));
    }
}
