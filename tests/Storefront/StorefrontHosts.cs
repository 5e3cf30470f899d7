using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Samples.Storefront;
using ShopAstro.Storefront.Client;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Storefront;

/// <summary>
/// The sample storefront in-process. Its <see cref="ConsentClient"/> talks to the given edge API's in-memory
/// server; without one it is pointed at <paramref name="edgeAddress"/> over the network (say, a closed port).
/// </summary>
public sealed class StorefrontFactory(
    EdgeApiFactory? edge, Uri? edgeAddress = null, string storeId = StorefrontFactory.Store, string token = EdgeApiFactory.StorefrontS1Token)
    : WebApplicationFactory<SampleStorefront>
{
    public const string Store = "s1";

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("ShopAstro:BaseAddress", (edgeAddress ?? new Uri("http://edge.test/")).ToString());
        builder.UseSetting("ShopAstro:Token", token);
        builder.UseSetting("ShopAstro:StoreId", storeId);
        if (edge is not null)
        {
            builder.ConfigureTestServices(services =>
                services.AddHttpClient<ConsentClient>().ConfigurePrimaryHttpMessageHandler(() => edge.Server.CreateHandler()));
        }
    }

    /// <summary>A closed loopback port: connections to it are refused.</summary>
    public static Uri UnreachableEdge() => new($"http://127.0.0.1:{EdgeApiFactory.FreePort()}/");
}

/// <summary>One edge API over a fresh SQLite file with store s1's policy published (version 1, every consent purpose in use).</summary>
public sealed class StorefrontEdgeFixture : IAsyncLifetime
{
    public const int PolicyVersion = 1;

    public const string PolicyPurposes = """
        {"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false},
         "advertising":{"enabled":true,"materialChange":false},"affiliate_sharing":{"enabled":true,"materialChange":false}}
        """;

    private TestDatabase _database = null!;

    public EdgeApiFactory Edge { get; private set; } = null!;

    /// <summary>An admin's client of the edge, to see what the edge decides independently of the storefront.</summary>
    public HttpClient Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _database = TestDatabase.Sqlite();
        Edge = new EdgeApiFactory(_database.ConnectionString);
        Admin = Edge.ClientWith(EdgeApiFactory.AdminToken);
        using var published = await Admin.PublishPolicyAsync(StorefrontFactory.Store, PolicyVersion, PolicyPurposes);
        await published.ShouldBeOkAsync();
    }

    public async Task DisposeAsync()
    {
        Admin?.Dispose();
        if (Edge is not null)
        {
            await Edge.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}

/// <summary>
/// One shopper's browser, as far as the server can tell: a cookie jar and the <c>sa_anon</c> subject id the
/// storefront gave it.
/// </summary>
public sealed class Shopper(HttpClient client) : IDisposable
{
    public const string AnonymousCookie = "sa_anon";

    public HttpClient Client { get; } = client;

    /// <summary>The anonymous subject id from the storefront's first Set-Cookie.</summary>
    public string? SubjectId { get; private set; }

    public static Shopper Of<T>(WebApplicationFactory<T> storefront)
        where T : class =>
        new(storefront.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = true, AllowAutoRedirect = false }));

    /// <summary>GET / with the given request headers; answers the page's HTML.</summary>
    public async Task<string> ViewProductPageAsync(params (string Name, string Value)[] headers)
    {
        using var response = await SendAsync(HttpMethod.Get, "/", null, headers);
        var html = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET / answered {(int)response.StatusCode}: {html}");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        return html;
    }

    /// <summary>POST /consent as the banner does; answers the response.</summary>
    public Task<HttpResponseMessage> ChooseAsync(string purposesJson, int policyVersion = StorefrontEdgeFixture.PolicyVersion,
        params (string Name, string Value)[] headers) =>
        SendAsync(HttpMethod.Post, "/consent",
            ConsentApi.Json($$"""{"purposes":{{purposesJson}},"policyVersion":{{policyVersion}},"source":"banner"}"""), headers);

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        var response = await Client.SendAsync(request);
        if (SubjectId is null && AnonymousSubjectFrom(response) is { } issued)
        {
            SubjectId = issued;
        }

        return response;
    }

    /// <summary>The subject id a response's <c>Set-Cookie: sa_anon=...</c> issues, if any.</summary>
    public static string? AnonymousSubjectFrom(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var cookies)
            ? cookies.Where(c => c.StartsWith(AnonymousCookie + "=", StringComparison.Ordinal))
                .Select(c => Uri.UnescapeDataString(c[(AnonymousCookie.Length + 1)..].Split(';')[0]))
                .FirstOrDefault()
            : null;

    public void Dispose() => Client.Dispose();
}

/// <summary>What the sample page shows.</summary>
public static class Page
{
    public static bool HasTracking(string html) => html.Contains($"""<script id="{ProductPage.TrackingScriptId}" """, StringComparison.Ordinal);

    public static bool HasRecommendations(string html) => html.Contains($"""id="{ProductPage.RecommendationsId}" """, StringComparison.Ordinal);
}
