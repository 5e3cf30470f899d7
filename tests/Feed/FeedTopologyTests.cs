using System.Diagnostics;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Feed;

/// <summary>
/// The live feed across processes: silo processes and edge API processes (Orleans clients) on one Redis
/// and PostgreSQL, dashboards on real WebSockets.
/// </summary>
public sealed class FeedTopologyTests(ITestOutputHelper output) : IAsyncLifetime
{
    private TestDatabase _database = null!;

    public async Task InitializeAsync() => _database = await TestDatabase.PostgresAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task A_dashboard_on_the_second_edge_receives_a_change_written_through_the_first()
    {
        var cluster = new ProcessCluster(ServiceProcess.RedisOrFail(), _database.ConnectionString);
        await using var silo = cluster.StartSilo();
        var (firstUrl, secondUrl) = (ProcessCluster.NewEdgeUrl(), ProcessCluster.NewEdgeUrl());
        await using var first = cluster.StartEdge(firstUrl);
        await using var second = cluster.StartEdge(secondUrl);
        await first.WaitForHttpAsync(firstUrl + "/health/ready", TimeSpan.FromSeconds(60));
        await second.WaitForHttpAsync(secondUrl + "/health/ready", TimeSpan.FromSeconds(60));

        using var writer = ProcessCluster.Client(firstUrl);
        await (await writer.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await using var dashboard = FeedClient.Real(secondUrl, ProcessCluster.Token);
        var start = await dashboard.SubscribeAsync("s1");

        await (await writer.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
        var received = dashboard.Next(m => m.Type == "consentChanged", TimeSpan.FromSeconds(10));
        Assert.Equal("u1", received.Payload.GetProperty("subjectId").GetString());
        Assert.True(received.Sequence > start);

        // Write-to-dashboard latency over 1,000 changes: acknowledgement on the first edge to receipt on the second.
        var latencies = new List<double>(1000);
        for (var i = 0; i < 1000; i++)
        {
            var subject = $"lat{i}";
            var response = await writer.SetConsentAsync("s1", subject, "analytics", i % 2 == 0);
            var ackedAt = Stopwatch.GetTimestamp();
            await response.ShouldBeOkAsync();
            var message = dashboard.Next(m => m.Type == "consentChanged" && m.Payload.GetProperty("subjectId").GetString() == subject, TimeSpan.FromSeconds(10));
            latencies.Add(Math.Max(0, Stopwatch.GetElapsedTime(ackedAt, message.ReceivedTimestamp).TotalMilliseconds));
        }

        latencies.Sort();
        output.WriteLine($"write-ack to SignalR receipt over {latencies.Count} changes: p50 {Percentile(latencies, 50):F2} ms, " +
            $"p90 {Percentile(latencies, 90):F2} ms, p99 {Percentile(latencies, 99):F2} ms, max {latencies[^1]:F2} ms");
    }

    [Fact]
    public async Task After_the_silo_is_killed_and_replaced_the_dashboard_receives_changes_again_and_sees_the_gap()
    {
        var cluster = new ProcessCluster(ServiceProcess.RedisOrFail(), _database.ConnectionString);
        var edgeUrl = ProcessCluster.NewEdgeUrl();
        var silo = cluster.StartSilo();
        await using var edge = cluster.StartEdge(edgeUrl);
        ServiceProcess? replacement = null;
        try
        {
            await edge.WaitForHttpAsync(edgeUrl + "/health/ready", TimeSpan.FromSeconds(60));
            using var writer = ProcessCluster.Client(edgeUrl);
            await (await writer.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
            await using var dashboard = FeedClient.Real(edgeUrl, ProcessCluster.Token);
            await dashboard.SubscribeAsync("s1");
            await (await writer.SetConsentAsync("s1", "before", "analytics", true)).ShouldBeOkAsync();
            var before = dashboard.Next(m => m.Type == "consentChanged", TimeSpan.FromSeconds(10));

            silo.Kill();
            await silo.DisposeAsync();
            replacement = cluster.StartSilo();
            var killedAt = Stopwatch.StartNew();

            FeedClient.Received? after = null;
            for (var i = 0; after is null && killedAt.Elapsed < TimeSpan.FromSeconds(90); i++)
            {
                try
                {
                    using var response = await writer.SetConsentAsync("s1", $"after{i}", "analytics", true);
                }
                catch (HttpRequestException)
                {
                    // The edge answers 503 or drops while the cluster recovers; keep writing.
                }

                after = dashboard.TryNext(m => m.Type == "consentChanged", TimeSpan.FromMilliseconds(500));
            }

            Assert.NotNull(after);
            output.WriteLine($"feed delivered again {killedAt.Elapsed.TotalSeconds:F1} s after the silo was killed");
            Assert.True(after.Sequence > before.Sequence + 1, $"a gap must be visible: {before.Sequence} then {after.Sequence}");
        }
        finally
        {
            await silo.DisposeAsync();
            if (replacement is not null)
            {
                await replacement.DisposeAsync();
            }
        }
    }

    private static double Percentile(List<double> sorted, double p) => sorted[(int)Math.Ceiling(p / 100 * sorted.Count) - 1];
}
