using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ShopAstro.Tests.Consistency;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Faults;

/// <summary>
/// Issue 5, item 5: the edges' decision caches stay exactly consistent under concurrent load while one of
/// them is killed. One silo, three edge processes: writers alternate grant and withdraw on a few subjects
/// through edge 1; checkers on edges 2 and 3 (both answering from their leases) check those subjects all
/// the while; edge 3 is SIGKILLed mid-way, holding leases. No check that started after a withdrawal's
/// acknowledgement (and ended before the next grant was sent) may answer allowed, on either edge, before
/// or after the kill; the withdrawals whose leases edge 3 held are acknowledged once those leases ran out.
/// </summary>
[Collection("faults")]
public sealed partial class EdgeCacheKilledTests(ITestOutputHelper output)
{
    private const string Store = "faults-cache";
    private const int Subjects = 6;
    private const int CheckersPerEdge = 4;
    private static readonly TimeSpan BeforeKill = TimeSpan.FromSeconds(6);
    private static readonly TimeSpan AfterKill = TimeSpan.FromSeconds(12);

    private sealed record Check(int Subject, string Edge, long StartedAt, long EndedAt, bool Allowed);

    [Fact]
    public async Task No_allowed_is_served_after_a_withdrawal_is_acknowledged_while_an_edge_holding_leases_is_killed()
    {
        var redis = ServiceProcess.RedisOrFail();
        await using var database = await TestDatabase.PostgresAsync();
        await using var cluster = new FaultCluster(redis, database.ConnectionString);
        await cluster.RunAsync(() => Run(cluster));
    }

    private async Task Run(FaultCluster cluster)
    {
        await cluster.StartSiloAsync();
        var writerEdge = await cluster.StartEdgeAsync();
        var checkerEdge = await cluster.StartEdgeAsync();
        var doomed = await cluster.StartEdgeAsync();
        using var writer = FaultCluster.Client(writerEdge.Url, TimeSpan.FromSeconds(20));
        using var checker = FaultCluster.Client(checkerEdge.Url, TimeSpan.FromSeconds(10));
        using var doomedChecker = FaultCluster.Client(doomed.Url, TimeSpan.FromSeconds(10));
        await (await writer.PublishPolicyAsync(Store, 1)).ShouldBeOkAsync();

        var writes = Enumerable.Range(0, Subjects).Select(_ => new List<AcknowledgedWrite>()).ToArray();
        var checks = new ConcurrentQueue<Check>();
        var errors = new ConcurrentQueue<string>();
        var stop = false;
        var started = Clock.Now;
        long killedAt = long.MaxValue;

        async Task Writer(int subject)
        {
            for (var n = 0; !Volatile.Read(ref stop); n++)
            {
                var granted = n % 2 == 0;
                var sentAt = Clock.Now;
                using var response = await writer.SetConsentAsync(Store, $"c{subject}", "analytics", granted);
                if (!response.IsSuccessStatusCode)
                {
                    errors.Enqueue($"write c{subject} answered {(int)response.StatusCode} at {Clock.Seconds(started, Clock.Now):F2} s");
                    continue;
                }

                lock (writes[subject])
                {
                    writes[subject].Add(new AcknowledgedWrite(granted, sentAt, Clock.Now));
                }

                // Leave the checkers windows in which only the acknowledged choice is in effect.
                await Task.Delay(granted ? 5 : 20);
            }
        }

        async Task Checker(HttpClient client, string edge, int seed)
        {
            var random = new Random(seed);
            while (!Volatile.Read(ref stop))
            {
                var subject = random.Next(Subjects);
                var startedAt = Clock.Now;
                try
                {
                    using var response = await client.GetAsync($"/v1/stores/{Store}/subjects/c{subject}/decisions?purpose=analytics");
                    var body = await response.Content.ReadAsStringAsync();
                    if (!response.IsSuccessStatusCode)
                    {
                        errors.Enqueue($"check on {edge} answered {(int)response.StatusCode} at {Clock.Seconds(started, Clock.Now):F2} s");
                        continue;
                    }

                    var allowed = JsonNode.Parse(body)!["decisions"]![0]!["allowed"]!.GetValue<bool>();
                    checks.Enqueue(new Check(subject, edge, startedAt, Clock.Now, allowed));
                }
                catch (Exception exception) when (edge == "edge3" && Clock.Now > Volatile.Read(ref killedAt))
                {
                    // The killed edge's own clients see their connections fail; that edge is gone.
                    _ = exception;
                    await Task.Delay(50);
                }
            }
        }

        var load = Enumerable.Range(0, Subjects).Select(s => Task.Run(() => Writer(s)))
            .Concat(Enumerable.Range(0, CheckersPerEdge).Select(c => Task.Run(() => Checker(checker, "edge2", c))))
            .Concat(Enumerable.Range(0, CheckersPerEdge).Select(c => Task.Run(() => Checker(doomedChecker, "edge3", 100 + c))))
            .ToArray();
        try
        {
            await Task.Delay(BeforeKill);
            Volatile.Write(ref killedAt, Clock.Now);
            doomed.Process.Kill();
            await Task.Delay(AfterKill);
        }
        finally
        {
            Volatile.Write(ref stop, true);
            await Task.WhenAll(load);
        }

        var hits = await CacheHitsAsync(checker);
        var all = checks.ToList();
        var guarded = all.Where(c => WithdrawalWindow.MustBeDenied(c.StartedAt, c.EndedAt, writes[c.Subject])).ToList();
        var violations = guarded.Where(c => c.Allowed).ToList();
        var withdrawals = writes.SelectMany(w => w).Where(w => !w.Granted).ToList();
        var (beforeKill, afterKill) = (withdrawals.Where(w => w.AckedAt < killedAt).ToList(), withdrawals.Where(w => w.SentAt > killedAt).ToList());
        output.WriteLine($"CACHE: {all.Count} checks ({all.Count(c => c.Edge == "edge2")} on edge 2, {all.Count(c => c.Edge == "edge3")} on edge 3), " +
            $"{guarded.Count} ran entirely while only an acknowledged withdrawal was in effect " +
            $"({guarded.Count(c => c.StartedAt > killedAt)} after the kill), {violations.Count} answered allowed");
        output.WriteLine($"CACHE: edge 2 answered {hits.Hit} subjects from its leases, took {hits.Lease} leases, sent {hits.Grain} to the grains");
        output.WriteLine($"CACHE: withdrawals before the kill: {Describe(beforeKill)}; after the kill: {Describe(afterKill)}");
        output.WriteLine($"CACHE: {errors.Count} errors{(errors.IsEmpty ? "" : ": " + string.Join("; ", errors.Take(5)))}");

        Assert.Empty(violations.Select(v => $"c{v.Subject} on {v.Edge} at {Clock.Seconds(started, v.StartedAt):F3} s"));
        Assert.True(errors.IsEmpty, string.Join("; ", errors.Take(10)));
        Assert.True(hits.Hit > hits.Lease, $"edge 2 must answer most checks from its leases (hits {hits.Hit}, leases {hits.Lease})");
        Assert.True(guarded.Count(c => c.StartedAt < killedAt && c.Edge == "edge3") > 50, "the window must be exercised on the doomed edge before the kill");
        Assert.True(guarded.Count(c => c.StartedAt > killedAt) > 50, "the window must be exercised after the kill");
        Assert.True(afterKill.Count >= Subjects, "withdrawals must complete after the kill");
    }

    private static string Describe(List<AcknowledgedWrite> writes)
    {
        if (writes.Count == 0)
        {
            return "none";
        }

        var latencies = writes.Select(w => Clock.Milliseconds(w.SentAt, w.AckedAt)).Order().ToList();
        return $"{writes.Count}, p50 {latencies[latencies.Count / 2]:F1} ms, max {latencies[^1]:F0} ms";
    }

    private static async Task<(double Hit, double Lease, double Grain)> CacheHitsAsync(HttpClient edge)
    {
        var text = await edge.GetStringAsync("/metrics");
        double Of(string result) => LookupLine().Matches(text)
            .Where(m => m.Groups["result"].Value == result)
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));
        return (Of("hit"), Of("lease"), Of("grain"));
    }

    [GeneratedRegex("""^shopastro_decision_cache_lookups_total\{[^}]*result="(?<result>\w+)"[^}]*\} (?<value>[0-9.e+]+)""", RegexOptions.Multiline)]
    private static partial Regex LookupLine();
}
