using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.OpenApi;

/// <summary>
/// The edge API as its own process on a loopback port (embedded default, SQLite in a temporary folder), as an
/// integrator meets it: the OpenAPI checks read its served document and call it from outside.
/// </summary>
public sealed class RunningEdge : IAsyncLifetime
{
    public const string AdminToken = "openapi-admin-token";
    public const string SellerS1Token = "openapi-seller-s1";
    public const string StorefrontS1Token = "openapi-storefront-s1";
    public const string SellerS2Token = "openapi-seller-s2";
    public const string PartnerToken = "openapi-partner-validation";

    /// <summary>A token of its own for provoking 429 without slowing the others (every token has its own bucket).</summary>
    public const string RateLimitedToken = "openapi-rate-limited";

    /// <summary>The limits of every token here: the checks' own traffic stays far below; a burst of 300 goes over.</summary>
    public const int PermitsPerSecond = 50;
    public const int Burst = 100;

    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("shopastro-openapi-");
    private ServiceProcess? _edge;

    public Uri Url { get; } = new($"http://127.0.0.1:{EdgeApiFactory.FreePort()}");

    public string DocumentText { get; private set; } = "";

    public JsonNode Document => JsonNode.Parse(DocumentText)!;

    public string Output => _edge?.Output ?? "";

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = Url.ToString().TrimEnd('/'),
            ["ConnectionStrings__Consent"] = $"Data Source={Path.Combine(_folder.FullName, "consent.db")}",
            ["Orleans__SiloPort"] = EdgeApiFactory.FreePort().ToString(),
            ["Orleans__GatewayPort"] = EdgeApiFactory.FreePort().ToString(),
            ["Consent__AnonymisationKey"] = EdgeApiFactory.AnonymisationKey,
            ["RateLimits__PermitsPerSecond"] = PermitsPerSecond.ToString(),
            ["RateLimits__Burst"] = Burst.ToString(),
            // Snapshots within seconds, so that the history the checks read has some.
            ["StatsHistory__Interval"] = "00:00:01",
        };
        var tokens = new (string Token, string Role, string Store)[]
        {
            (AdminToken, "admin", "*"), (SellerS1Token, "seller", "s1"), (StorefrontS1Token, "storefront", "s1"),
            (SellerS2Token, "seller", "s2"), (RateLimitedToken, "admin", "*"), (PartnerToken, "partner", "validation"),
        };
        for (var i = 0; i < tokens.Length; i++)
        {
            settings[$"Auth__Tokens__{i}__Token"] = tokens[i].Token;
            settings[$"Auth__Tokens__{i}__Role"] = tokens[i].Role;
            settings[$"Auth__Tokens__{i}__Stores__0"] = tokens[i].Store;
        }

        _edge = ServiceProcess.Start("EdgeApi", settings);
        await _edge.WaitForHttpAsync(new Uri(Url, "/health/ready").ToString(), TimeSpan.FromSeconds(90));
        using var client = Client(null);
        DocumentText = await client.GetStringAsync("/openapi/v1.json");
    }

    public HttpClient Client(string? token)
    {
        var client = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public async Task DisposeAsync()
    {
        if (_edge is not null)
        {
            await _edge.DisposeAsync();
        }

        _folder.Delete(recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class RunningEdgeCollection : ICollectionFixture<RunningEdge>
{
    public const string Name = "Running edge (OpenAPI)";
}
