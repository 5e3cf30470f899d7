using System.Net;
using System.Net.Sockets;
using System.Text;
using ShopAstro.Tests.Feed;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Faults;

/// <summary>
/// Redis (membership and the SignalR backplane) is killed and started again, empty, on the same port under
/// two silos and an edge with a subscribed dashboard. Nobody steps in: writes and checks work again, the
/// dashboard receives changes again, and the membership is back in Redis (a new edge process finds the silos).
/// </summary>
[Collection("faults")]
public sealed class RedisRestartTests(ITestOutputHelper output)
{
    private const string Store = "faults-redis";
    private const int StableStreak = 20;
    private static readonly TimeSpan Outage = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan RecoveryBound = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan NewEdgeBound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task After_redis_restarts_writes_checks_the_dashboard_and_membership_recover_by_themselves()
    {
        await using var database = await TestDatabase.PostgresAsync();
        await using var redis = await PrivateRedis.StartAsync();
        await using var cluster = new FaultCluster(redis.Address, database.ConnectionString);
        await cluster.RunAsync(() => Run(cluster, redis));
    }

    private async Task Run(FaultCluster cluster, PrivateRedis redis)
    {
        ServiceProcess[] silos = [await cluster.StartSiloAsync(), await cluster.StartSiloAsync()];
        var edge = await cluster.StartEdgeAsync();
        using var client = FaultCluster.Client(edge.Url, TimeSpan.FromSeconds(10));
        await (await client.PublishPolicyAsync(Store, 1)).ShouldBeOkAsync();
        await using var dashboard = FeedClient.Real(edge.Url, FaultCluster.Token);
        var subscribedAt = await dashboard.SubscribeAsync(Store);
        await (await client.SetConsentAsync(Store, "before", "analytics", true)).ShouldBeOkAsync();
        var before = dashboard.Next(m => m.Type == "consentChanged" && m.Payload.GetProperty("subjectId").GetString() == "before", TimeSpan.FromSeconds(10));
        Assert.True(before.Sequence > subscribedAt);
        for (var i = 0; i < 20; i++)
        {
            // Activations on both silos before the restart.
            await (await client.SetConsentAsync(Store, $"pre{i}", "analytics", true)).ShouldBeOkAsync();
        }

        var keysBefore = await redis.KeysAsync();
        output.WriteLine($"REDIS-RESTART: keys before the restart: {keysBefore}");

        var killedAt = Clock.Now;
        await redis.KillAsync();
        var during = new List<int>();
        for (var i = 0; Clock.Seconds(killedAt, Clock.Now) < Outage.TotalSeconds; i++)
        {
            during.Add(await Status(() => client.SetConsentAsync(Store, $"pre{i % 20}", "analytics", i % 2 == 1)));
            during.Add(await Status(() => client.GetAsync($"/v1/stores/{Store}/subjects/pre{i % 20}/decisions?purpose=analytics")));
            await Task.Delay(100);
        }

        await redis.StartServerAsync();
        var restartedAt = Clock.Now;
        output.WriteLine($"REDIS-RESTART: killed, down for {Clock.Seconds(killedAt, restartedAt):F1} s; requests while down (writes and checks of active subjects): " +
            Histogram(during));

        double? firstWrite = null, firstCheck = null, feedAt = null, stableAt = null;
        FeedClient.Received? after = null;
        var streak = 0;
        var failures = new List<string>();
        for (var i = 0; (stableAt is null || after is null) && Clock.Seconds(restartedAt, Clock.Now) < RecoveryBound.TotalSeconds; i++)
        {
            var subject = $"after{i}";
            var write = await Status(() => client.SetConsentAsync(Store, subject, "analytics", true));
            var check = await Status(() => client.GetAsync($"/v1/stores/{Store}/subjects/{subject}/decisions?purpose=analytics"));
            var oldCheck = await Status(() => client.GetAsync($"/v1/stores/{Store}/subjects/pre{i % 20}/decisions?purpose=analytics"));
            var now = Clock.Seconds(restartedAt, Clock.Now);
            if (write == 200)
            {
                firstWrite ??= now;
            }

            if (check == 200 && oldCheck == 200)
            {
                firstCheck ??= now;
            }

            if (write == 200 && check == 200 && oldCheck == 200)
            {
                streak++;
                if (streak >= StableStreak)
                {
                    stableAt ??= now;
                }
            }
            else
            {
                streak = 0;
                if (failures.Count < 20)
                {
                    failures.Add($"{now:F1} s: write {write} check {check} check-old {oldCheck}");
                }
            }

            if (after is null)
            {
                after = dashboard.TryNext(m => m.Type == "consentChanged"
                    && m.Payload.GetProperty("subjectId").GetString()!.StartsWith("after", StringComparison.Ordinal), TimeSpan.FromMilliseconds(write == 200 ? 300 : 50));
                if (after is not null)
                {
                    feedAt = Clock.Seconds(restartedAt, after.ReceivedTimestamp);
                }
            }

            if (write != 200)
            {
                await Task.Delay(250);
            }
        }

        output.WriteLine($"REDIS-RESTART: after the restart, first acknowledged write {Format(firstWrite)}, first checks {Format(firstCheck)}, " +
            $"{StableStreak} consecutive writes and checks {Format(stableAt)}, dashboard consentChanged {Format(feedAt)}" +
            (after is null ? "" : $" (sequence {before.Sequence} before, {after.Sequence} after)"));
        if (failures.Count > 0)
        {
            output.WriteLine($"REDIS-RESTART: failures after the restart: {string.Join("; ", failures)}");
        }

        var keysAfter = await redis.KeysAsync();
        output.WriteLine($"REDIS-RESTART: keys after recovery: {keysAfter}");

        Assert.True(silos.All(s => !s.HasExited), "both silos must survive the Redis restart");
        Assert.True(stableAt is not null, $"writes and checks must work again within {RecoveryBound.TotalSeconds} s: {string.Join("; ", failures)}");
        Assert.True(after is not null, $"the dashboard must receive a consentChanged again within {RecoveryBound.TotalSeconds} s");
        Assert.True(after!.Sequence > before.Sequence);

        // The membership is back in Redis: a new edge process finds the silos' gateways there (one normally
        // is ready within seconds).
        var joinedAt = Clock.Now;
        FaultCluster.Edge newcomer;
        try
        {
            newcomer = await cluster.StartEdgeAsync(readyWithin: NewEdgeBound);
        }
        catch (TimeoutException)
        {
            output.WriteLine($"REDIS-RESTART: a new edge process did NOT find the cluster within {NewEdgeBound.TotalSeconds} s; Redis keys: {await redis.KeysAsync()}");
            Assert.Fail($"The membership did not recover: {await redis.KeysAsync()} in the restarted Redis (before: {keysBefore}), and a new edge process " +
                $"found no gateway within {NewEdgeBound.TotalSeconds} s.\nSilo 1's last warning:\n{FaultCluster.LastFailure(silos[0], 1500, "warn: ")}" +
                $"\nSilo 1's last failure:\n{FaultCluster.LastFailure(silos[0], 1500)}");
            throw;
        }

        using var newcomerClient = FaultCluster.Client(newcomer.Url, TimeSpan.FromSeconds(10));
        await (await newcomerClient.SetConsentAsync(Store, "newcomer", "analytics", true)).ShouldBeOkAsync();
        output.WriteLine($"REDIS-RESTART: a new edge process found the cluster through the restarted Redis in {Clock.Seconds(joinedAt, Clock.Now):F1} s");
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

    private static string Histogram(IEnumerable<int> statuses) =>
        "{" + string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key)
            .Select(g => $"{(g.Key switch { 0 => "connection-failed", -1 => "timeout", _ => g.Key.ToString() })}: {g.Count()}")) + "}";

    private static string Format(double? seconds) => seconds is null ? "never" : $"after {seconds:F2} s";
}

internal static class PrivateRedisExtensions
{
    /// <summary>KEYS * as raw RESP text, for the report.</summary>
    public static async Task<string> KeysAsync(this PrivateRedis redis)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync("127.0.0.1", redis.Port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("KEYS *\r\n"u8.ToArray(), timeout.Token);
            var buffer = new byte[8192];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            var lines = Encoding.UTF8.GetString(buffer, 0, read).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
            return "[" + string.Join(", ", lines.Where(l => !l.StartsWith('*') && !l.StartsWith('$'))) + "]";
        }
        catch (Exception exception) when (exception is SocketException or IOException or OperationCanceledException)
        {
            return $"(unreadable: {exception.GetType().Name})";
        }
    }
}
