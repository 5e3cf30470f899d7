using System.Net.Http.Headers;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Integration;

/// <summary>
/// The production shape: a silo process and an edge API process that is only an Orleans client, found
/// through Redis membership, over PostgreSQL. A grant survives replacing both processes.
/// </summary>
public sealed class ProductionTopologyTests : IAsyncLifetime
{
    private const string Token = "topology-admin-token";
    private TestDatabase _database = null!;
    private string _clusterSuffix = "";

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.PostgresAsync();
        _clusterSuffix = Guid.NewGuid().ToString("N")[..8];
    }

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task Edge_client_and_separate_silo_serve_the_contract_and_a_grant_survives_both_restarting()
    {
        var redis = ServiceProcess.RedisOrFail();
        var edgeUrl = $"http://127.0.0.1:{EdgeApiFactory.FreePort()}";

        await using (var silo = StartSilo(redis))
        await using (var edge = StartEdge(redis, edgeUrl))
        {
            await edge.WaitForHttpAsync(edgeUrl + "/health/ready", TimeSpan.FromSeconds(60));
            using var client = Client(edgeUrl);
            await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
            Assert.Equal((true, "granted"), await client.DecideAsync("s1", "u1", "analytics"));
            Assert.DoesNotContain("Started silo", edge.Output, StringComparison.Ordinal);
        }

        await using (var silo = StartSilo(redis))
        await using (var edge = StartEdge(redis, edgeUrl))
        {
            await edge.WaitForHttpAsync(edgeUrl + "/health/ready", TimeSpan.FromSeconds(60));
            using var client = Client(edgeUrl);
            Assert.Equal((true, "granted"), await client.DecideAsync("s1", "u1", "analytics"));
        }
    }

    private ServiceProcess StartSilo(string redis) => ServiceProcess.Start("Silo", Settings(redis, new()
    {
        ["Orleans__SiloPort"] = EdgeApiFactory.FreePort().ToString(),
        ["Orleans__GatewayPort"] = EdgeApiFactory.FreePort().ToString(),
    }));

    private ServiceProcess StartEdge(string redis, string url) => ServiceProcess.Start("EdgeApi", Settings(redis, new()
    {
        ["ASPNETCORE_URLS"] = url,
        ["Auth__Tokens__0__Token"] = Token,
        ["Auth__Tokens__0__Role"] = "admin",
    }));

    private Dictionary<string, string> Settings(string redis, Dictionary<string, string> extra)
    {
        // A cluster id of its own, so that concurrent test runs on one Redis never meet.
        extra["ConnectionStrings__Redis"] = redis;
        extra["ConnectionStrings__Consent"] = _database.ConnectionString;
        extra["Orleans__ClusterId"] = "test-" + _clusterSuffix;
        extra["Consent__AnonymisationKey"] = Convert.ToBase64String(new byte[32]);
        return extra;
    }

    private static HttpClient Client(string url)
    {
        var client = new HttpClient { BaseAddress = new Uri(url) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return client;
    }
}
