using System.Collections.Concurrent;
using System.Net;
using ShopAstro.Tests.Feed;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Faults;

/// <summary>
/// One silo, two edge processes, each with a subscribed dashboard (so the store's feed grain delivers to
/// both). Edge 1 is killed with SIGKILL while clients of edge 2 write and check: they see no error, and
/// edge 2's dashboard keeps receiving every change without a stall.
/// </summary>
[Collection("faults")]
public sealed class EdgeKilledTests(ITestOutputHelper output)
{
    private const string Store = "faults-edge";
    private const int Writers = 4;
    private const int Checkers = 4;
    // Past the store's first two decision leases: from then on the store can tell a new subject's first write
    // that no earlier activation leased anything but "no record", so it does not wait for the dead edge. (Before,
    // such a write waits up to one lease for an edge that can no longer confirm: docs/coherence.md.)
    private static readonly TimeSpan BeforeKill = TimeSpan.FromSeconds(12);
    private static readonly TimeSpan AfterKill = TimeSpan.FromSeconds(12);
    private static readonly TimeSpan MaxSilence = TimeSpan.FromSeconds(3);

    private sealed record Acknowledged(string Subject, long AckedAt);

    [Fact]
    public async Task Clients_and_the_dashboard_of_the_surviving_edge_notice_nothing_when_the_other_edge_is_killed()
    {
        var redis = ServiceProcess.RedisOrFail();
        await using var database = await TestDatabase.PostgresAsync();
        await using var cluster = new FaultCluster(redis, database.ConnectionString);
        await cluster.RunAsync(() => Run(cluster));
    }

    private async Task Run(FaultCluster cluster)
    {
        await cluster.StartSiloAsync();
        var doomed = await cluster.StartEdgeAsync();
        var survivor = await cluster.StartEdgeAsync();
        using var doomedClient = FaultCluster.Client(doomed.Url, TimeSpan.FromSeconds(10));
        using var client = FaultCluster.Client(survivor.Url, TimeSpan.FromSeconds(10));
        await (await client.PublishPolicyAsync(Store, 1)).ShouldBeOkAsync();

        await using var doomedDashboard = FeedClient.Real(doomed.Url, FaultCluster.Token);
        await doomedDashboard.SubscribeAsync(Store);
        await using var dashboard = FeedClient.Real(survivor.Url, FaultCluster.Token);
        await dashboard.SubscribeAsync(Store);

        var acknowledged = new ConcurrentQueue<Acknowledged>();
        var errors = new ConcurrentQueue<string>();
        var doomedStatuses = new ConcurrentDictionary<int, int>();
        var requests = 0;
        var stop = false;
        var started = Clock.Now;

        async Task Writer(int writer)
        {
            for (var n = 0; !Volatile.Read(ref stop); n++)
            {
                var subject = $"e2-{writer}-{n}";
                var status = await Status(() => client.SetConsentAsync(Store, subject, "analytics", true));
                Interlocked.Increment(ref requests);
                if (status == 200)
                {
                    acknowledged.Enqueue(new Acknowledged(subject, Clock.Now));
                }
                else
                {
                    errors.Enqueue($"write {subject} answered {status} at {Clock.Seconds(started, Clock.Now):F2} s");
                }
            }
        }

        async Task Checker(int checker)
        {
            var random = new Random(checker);
            while (!Volatile.Read(ref stop))
            {
                var subject = $"e2-{random.Next(Writers)}-{random.Next(50)}";
                var status = await Status(() => client.GetAsync($"/v1/stores/{Store}/subjects/{subject}/decisions?purpose=analytics"));
                Interlocked.Increment(ref requests);
                if (status != 200)
                {
                    errors.Enqueue($"check {subject} answered {status} at {Clock.Seconds(started, Clock.Now):F2} s");
                }
            }
        }

        async Task DoomedLoad(int worker)
        {
            for (var n = 0; !Volatile.Read(ref stop); n++)
            {
                var status = await Status(() => doomedClient.SetConsentAsync(Store, $"e1-{worker}-{n}", "analytics", true));
                doomedStatuses.AddOrUpdate(status, 1, (_, c) => c + 1);
                if (status != 200)
                {
                    await Task.Delay(100);
                }
            }
        }

        var load = Enumerable.Range(0, Writers).Select(w => Task.Run(() => Writer(w)))
            .Concat(Enumerable.Range(0, Checkers).Select(c => Task.Run(() => Checker(c))))
            .Concat(Enumerable.Range(0, 2).Select(w => Task.Run(() => DoomedLoad(w))))
            .ToArray();

        long killedAt;
        try
        {
            await Task.Delay(BeforeKill);
            killedAt = Clock.Now;
            doomed.Process.Kill();
            await Task.Delay(AfterKill);
        }
        finally
        {
            Volatile.Write(ref stop, true);
            await Task.WhenAll(load);
        }

        var stoppedAt = Clock.Now;

        // Everything edge 2's dashboard received, up to 10 s after the last acknowledged write.
        var received = new Dictionary<string, long>();
        var receiptTimes = new List<long>();
        var wanted = acknowledged.Select(a => a.Subject).ToHashSet();
        var drainUntil = Clock.Now + (long)(10 * System.Diagnostics.Stopwatch.Frequency);
        while (received.Count < wanted.Count && Clock.Now < drainUntil)
        {
            var message = dashboard.TryNext(m => m.Type == "consentChanged", TimeSpan.FromMilliseconds(200));
            if (message is not null)
            {
                var subject = message.Payload.GetProperty("subjectId").GetString()!;
                received.TryAdd(subject, message.ReceivedTimestamp);
                receiptTimes.Add(message.ReceivedTimestamp);
            }
        }

        while (dashboard.TryNext(m => m.Type == "consentChanged", TimeSpan.FromMilliseconds(1)) is { } late)
        {
            received.TryAdd(late.Payload.GetProperty("subjectId").GetString()!, late.ReceivedTimestamp);
            receiptTimes.Add(late.ReceivedTimestamp);
        }

        var afterKill = acknowledged.Where(a => a.AckedAt > killedAt).ToList();
        var afterKillReceived = afterKill.Count(a => received.ContainsKey(a.Subject));
        var latencies = afterKill.Where(a => received.ContainsKey(a.Subject))
            .Select(a => Math.Max(0, Clock.Milliseconds(a.AckedAt, received[a.Subject]))).OrderBy(l => l).ToList();

        // The longest silence of the dashboard while writes were being acknowledged after the kill.
        var times = receiptTimes.Where(t => t > killedAt && t <= stoppedAt).Order().Prepend(killedAt).Append(stoppedAt).ToList();
        var silence = times.Zip(times.Skip(1), (a, b) => Clock.Seconds(a, b)).DefaultIfEmpty(0).Max();

        output.WriteLine($"EDGE-KILLED: edge 2 served {requests} requests, {errors.Count} errors; {acknowledged.Count} writes acknowledged, " +
            $"{afterKill.Count} after the kill of edge 1, of which the dashboard on edge 2 received {afterKillReceived}");
        if (latencies.Count > 0)
        {
            output.WriteLine($"EDGE-KILLED: ack-to-dashboard after the kill: p50 {latencies[latencies.Count / 2]:F1} ms, " +
                $"p99 {latencies[(int)Math.Ceiling(latencies.Count * 0.99) - 1]:F1} ms, max {latencies[^1]:F1} ms; longest dashboard silence {silence:F2} s");
        }

        output.WriteLine($"EDGE-KILLED: edge 1's own clients: {{{string.Join(", ", doomedStatuses.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}"))}}}");
        foreach (var error in errors.Take(10))
        {
            output.WriteLine("  " + error);
        }

        Assert.True(errors.IsEmpty, $"clients of the surviving edge must see no error: {string.Join("; ", errors.Take(10))}");
        Assert.True(afterKill.Count > 50, $"the surviving edge must keep acknowledging writes ({afterKill.Count} after the kill)");
        var missing = afterKill.Where(a => !received.ContainsKey(a.Subject)).Take(10).Select(a => a.Subject).ToList();
        Assert.True(missing.Count == 0, $"the dashboard on the surviving edge missed {afterKill.Count - afterKillReceived} of {afterKill.Count} changes after the kill, e.g. {string.Join(", ", missing)}");
        Assert.True(silence <= MaxSilence.TotalSeconds, $"the dashboard on the surviving edge went silent for {silence:F2} s while writes were acknowledged");
    }

    private static async Task<int> Status(Func<Task<HttpResponseMessage>> request)
    {
        try
        {
            using var response = await request();
            return (int)response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
        catch (TaskCanceledException)
        {
            return -1;
        }
    }
}
