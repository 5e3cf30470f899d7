using System.Net;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Faults;

/// <summary>
/// The consent store goes away (pg_ctl stop -m immediate on a PostgreSQL cluster of this test alone) under
/// one silo and one edge: writes answer 503 with Retry-After and record nothing, checks of an active subject
/// keep answering from memory, and once PostgreSQL is back writes succeed again without anyone stepping in.
/// </summary>
[Collection("faults")]
public sealed class PostgresOutageTests(ITestOutputHelper output)
{
    private const string Store = "faults-pg";
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan RecoveryBound = TimeSpan.FromSeconds(60);

    private sealed record Attempt(string What, double AtSeconds, int Status, bool RetryAfter, string? Code, double Milliseconds, bool? Allowed);

    [Fact]
    public async Task Writes_answer_503_with_retry_after_while_postgres_is_down_checks_answer_from_memory_and_writes_recover()
    {
        var redis = ServiceProcess.RedisOrFail();
        await using var postgres = await PrivatePostgres.StartAsync();
        await using var cluster = new FaultCluster(redis, postgres.ConnectionString);
        await cluster.RunAsync(() => Run(cluster, postgres));
    }

    private async Task Run(FaultCluster cluster, PrivatePostgres postgres)
    {
        await cluster.StartSiloAsync();
        var edge = await cluster.StartEdgeAsync();
        using var client = FaultCluster.Client(edge.Url, TimeSpan.FromSeconds(20));
        await (await client.PublishPolicyAsync(Store, 1)).ShouldBeOkAsync();
        // "held" is granted and only checked; "victim" is granted, then written during the outage.
        await (await client.SetConsentAsync(Store, "held", "analytics", true)).ShouldBeOkAsync();
        await (await client.SetConsentAsync(Store, "victim", "analytics", true)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await client.DecideAsync(Store, "held", "analytics"));

        var stoppedAt = Clock.Now;
        await postgres.StopImmediateAsync();
        output.WriteLine($"PG-OUTAGE: pg_ctl stop -m immediate took {Clock.Milliseconds(stoppedAt, Clock.Now):F0} ms");

        var attempts = new List<Attempt>();
        for (var i = 0; Clock.Seconds(stoppedAt, Clock.Now) < Outage.TotalSeconds; i++)
        {
            attempts.Add(await Write(client, "victim", i % 2 == 1, "write-active", stoppedAt));
            attempts.Add(await Write(client, $"fresh{i}", true, "write-new", stoppedAt));
            attempts.Add(await Check(client, "held", "check-held", stoppedAt));
            await Task.Delay(200);
        }

        var ready = await Ready(edge.Url);
        var edgeFailure = FaultCluster.LastFailure(edge.Process);
        var restartedAt = Clock.Now;
        await postgres.StartServerAsync();
        output.WriteLine($"PG-OUTAGE: pg_ctl start took {Clock.Milliseconds(restartedAt, Clock.Now):F0} ms; /health/ready during the outage: {ready}");

        // Recovery: the same kinds of write, until each has succeeded once.
        double? activeRecovered = null, newRecovered = null;
        var recovery = new List<Attempt>();
        for (var i = 0; (activeRecovered is null || newRecovered is null) && Clock.Seconds(restartedAt, Clock.Now) < RecoveryBound.TotalSeconds; i++)
        {
            if (activeRecovered is null)
            {
                // The victim's record first: nothing of the outage's writes may have been recorded.
                using var record = await client.GetAsync($"/v1/stores/{Store}/subjects/victim");
                if (record.StatusCode == HttpStatusCode.OK)
                {
                    var body = JsonNode.Parse(await record.Content.ReadAsStringAsync())!;
                    var receipts = body["receipts"]!.AsArray().Count;
                    Assert.True(receipts == 1, $"writes answered 503 during the outage must record nothing; the victim has {receipts} receipts: {body}");
                    Assert.True(body["consents"]!["analytics"]!["granted"]!.GetValue<bool>(), $"the victim's stored choice changed: {body}");
                    var attempt = await Write(client, "victim", false, "write-active", restartedAt);
                    recovery.Add(attempt);
                    if (attempt.Status == 200)
                    {
                        activeRecovered = attempt.AtSeconds + attempt.Milliseconds / 1000;
                    }
                }
                else
                {
                    recovery.Add(new Attempt("read-active", Clock.Seconds(restartedAt, Clock.Now), (int)record.StatusCode, false, null, 0, null));
                }
            }

            if (newRecovered is null)
            {
                var attempt = await Write(client, $"after{i}", true, "write-new", restartedAt);
                recovery.Add(attempt);
                if (attempt.Status == 200)
                {
                    newRecovered = attempt.AtSeconds + attempt.Milliseconds / 1000;
                }
            }

            if (activeRecovered is null || newRecovered is null)
            {
                await Task.Delay(250);
            }
        }

        var finalCheck = await Check(client, "held", "check-held", restartedAt);

        // ---- Report ----
        foreach (var group in attempts.GroupBy(a => a.What))
        {
            var statuses = string.Join(", ", group.GroupBy(a => a.Status).OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Count()}"));
            output.WriteLine($"PG-OUTAGE: during {Outage.TotalSeconds:F0} s down, {group.Key}: {group.Count()} requests, statuses {{{statuses}}}, " +
                $"with Retry-After {group.Count(a => a.RetryAfter)}, latency median {Median(group.Select(a => a.Milliseconds)):F0} ms max {group.Max(a => a.Milliseconds):F0} ms" +
                (group.Key.StartsWith("check", StringComparison.Ordinal) ? $", allowed {group.Count(a => a.Allowed == true)}" : ""));
        }

        output.WriteLine($"PG-OUTAGE: after pg_ctl start, write to an active subject succeeded after {Format(activeRecovered)}, " +
            $"write to a new subject after {Format(newRecovered)}; {recovery.Count(a => a.Status != 200)} failed attempts before " +
            $"({string.Join(", ", recovery.Where(a => a.Status != 200).Select(a => $"{a.What} {a.Status} at {a.AtSeconds:F1} s"))})");
        output.WriteLine($"PG-OUTAGE: check of the held subject after recovery: {finalCheck.Status} allowed={finalCheck.Allowed}");

        var writes = attempts.Where(a => a.What.StartsWith("write", StringComparison.Ordinal)).ToList();
        Assert.True(writes.All(a => a.Status != 200), "no write may be acknowledged while the consent store is down");
        var not503 = writes.Where(a => a.Status != 503 || !a.RetryAfter || a.Code != "unavailable").ToList();
        Assert.True(not503.Count == 0, "every write during the outage must answer 503 unavailable with Retry-After; got " +
            string.Join(", ", not503.GroupBy(a => (a.What, a.Status, a.RetryAfter, a.Code)).Select(g => $"{g.Key.What}: {g.Key.Status} retry-after={g.Key.RetryAfter} code={g.Key.Code} x{g.Count()}")) +
            $"\nthe edge's last logged failure:\n{edgeFailure}");
        var checks = attempts.Where(a => a.What == "check-held").ToList();
        var badChecks = checks.Where(a => a.Status != 200 || a.Allowed != true).ToList();
        Assert.True(badChecks.Count == 0, "checks of an active granted subject must answer 200 granted from memory during the outage; got " +
            string.Join(", ", badChecks.Select(a => $"{a.Status}/{a.Allowed} at {a.AtSeconds:F1} s")));
        Assert.True(activeRecovered is not null && newRecovered is not null,
            $"writes must succeed again within {RecoveryBound.TotalSeconds} s of PostgreSQL's restart (active: {Format(activeRecovered)}, new: {Format(newRecovered)})");
        Assert.Equal(200, finalCheck.Status);
        Assert.True(finalCheck.Allowed);
    }

    private static async Task<Attempt> Write(HttpClient client, string subject, bool granted, string what, long since)
    {
        var startedAt = Clock.Now;
        try
        {
            using var response = await client.SetConsentAsync(Store, subject, "analytics", granted);
            var body = await response.Content.ReadAsStringAsync();
            string? code = null;
            if (response.StatusCode != HttpStatusCode.OK)
            {
                try
                {
                    code = JsonNode.Parse(body)?["code"]?.GetValue<string>();
                }
                catch (System.Text.Json.JsonException)
                {
                    code = "(not json)";
                }
            }

            return new Attempt(what, Clock.Seconds(since, startedAt), (int)response.StatusCode, response.Headers.RetryAfter is not null, code,
                Clock.Milliseconds(startedAt, Clock.Now), null);
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return new Attempt(what, Clock.Seconds(since, startedAt), exception is TaskCanceledException ? -1 : 0, false, exception.GetType().Name,
                Clock.Milliseconds(startedAt, Clock.Now), null);
        }
    }

    private static async Task<Attempt> Check(HttpClient client, string subject, string what, long since)
    {
        var startedAt = Clock.Now;
        try
        {
            using var response = await client.GetAsync($"/v1/stores/{Store}/subjects/{subject}/decisions?purpose=analytics");
            bool? allowed = null;
            if (response.StatusCode == HttpStatusCode.OK)
            {
                allowed = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["decisions"]![0]!["allowed"]!.GetValue<bool>();
            }

            return new Attempt(what, Clock.Seconds(since, startedAt), (int)response.StatusCode, response.Headers.RetryAfter is not null, null,
                Clock.Milliseconds(startedAt, Clock.Now), allowed);
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return new Attempt(what, Clock.Seconds(since, startedAt), exception is TaskCanceledException ? -1 : 0, false, exception.GetType().Name,
                Clock.Milliseconds(startedAt, Clock.Now), null);
        }
    }

    private static async Task<int> Ready(string url)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        try
        {
            using var response = await client.GetAsync(url + "/health/ready");
            return (int)response.StatusCode;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return -1;
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count == 0 ? 0 : sorted[sorted.Count / 2];
    }

    private static string Format(double? seconds) => seconds is null ? "never" : $"{seconds:F2} s";
}
