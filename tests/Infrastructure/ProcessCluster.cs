using System.Net.Http.Headers;

namespace ShopAstro.Tests.Infrastructure;

/// <summary>
/// The production shape as separate processes: silos and edge API processes (Orleans clients) of one
/// cluster on Redis membership and a PostgreSQL database, with an admin token. Each instance has a
/// cluster id of its own, so concurrent test runs on one Redis never meet.
/// </summary>
public sealed class ProcessCluster(string redis, string consentConnectionString)
{
    public const string Token = "process-cluster-admin";

    private readonly string _clusterId = "test-" + Guid.NewGuid().ToString("N")[..8];

    public ServiceProcess StartSilo() => ServiceProcess.Start("Silo", Settings(new()
    {
        ["Orleans__SiloPort"] = EdgeApiFactory.FreePort().ToString(),
        ["Orleans__GatewayPort"] = EdgeApiFactory.FreePort().ToString(),
    }));

    public ServiceProcess StartEdge(string url) => ServiceProcess.Start("EdgeApi", Settings(new()
    {
        ["ASPNETCORE_URLS"] = url,
        ["Auth__Tokens__0__Token"] = Token,
        ["Auth__Tokens__0__Role"] = "admin",
    }));

    public static string NewEdgeUrl() => $"http://127.0.0.1:{EdgeApiFactory.FreePort()}";

    public static HttpClient Client(string url)
    {
        var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(15) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return client;
    }

    private Dictionary<string, string> Settings(Dictionary<string, string> extra)
    {
        extra["ConnectionStrings__Redis"] = redis;
        extra["ConnectionStrings__Consent"] = consentConnectionString;
        extra["Orleans__ClusterId"] = _clusterId;
        extra["Consent__AnonymisationKey"] = EdgeApiFactory.AnonymisationKey;
        return extra;
    }
}
