using System.Collections.Concurrent;
using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Storefront.Client;
using ShopAstro.Storefront.Client.AspNetCore;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Storefront;

/// <summary>
/// The middleware in a minimal storefront of the test's own (a signed-in user by header, an endpoint that
/// echoes the decisions), against the real edge API, with every call to the edge recorded.
/// </summary>
public sealed class ConsentMiddlewareTests(StorefrontEdgeFixture fixture) : IClassFixture<StorefrontEdgeFixture>
{
    private const string Store = StorefrontFactory.Store;
    private const string UserHeader = "X-Test-User";

    [Fact]
    public async Task One_edge_call_per_request_asks_every_configured_purpose_at_once()
    {
        await using var host = await StartAsync();
        using var client = host.CreateClient();

        using var response = await client.GetAsync("/decisions");
        await response.ShouldBeOkAsync();

        var call = Assert.Single(host.EdgeCalls);
        Assert.Equal(HttpMethod.Get, call.Method);
        Assert.Matches("^/v1/stores/s1/subjects/anon(:|%3A)[0-9a-f]{32}/decisions$", call.Path);
        Assert.Equal("?purpose=analytics&purpose=recommendation&purpose=cart", call.Query);
        Assert.Equal($"Bearer {EdgeApiFactory.StorefrontS1Token}", call.Authorization);
        Assert.Equal("analytics=denied:no_consent recommendation=denied:no_consent cart=allowed:contract", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_signed_in_shoppers_name_is_the_subject_and_no_anonymous_cookie_is_set()
    {
        await using var host = await StartAsync();
        using var client = host.CreateClient();
        var user = "u-" + Guid.NewGuid().ToString("N")[..10];
        using (var grant = await fixture.Admin.SetConsentAsync(Store, user, "analytics", granted: true))
        {
            await grant.ShouldBeOkAsync();
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/decisions");
        request.Headers.Add(UserHeader, user);
        using var response = await client.SendAsync(request);

        Assert.Equal("analytics=allowed:granted recommendation=denied:no_consent cart=allowed:contract", await response.Content.ReadAsStringAsync());
        Assert.False(response.Headers.Contains("Set-Cookie"));
        Assert.Equal($"/v1/stores/s1/subjects/{user}/decisions", Assert.Single(host.EdgeCalls).Path);
    }

    [Theory]
    [InlineData("DNT", "1", "1", null)]
    [InlineData("Sec-GPC", "1", null, "1")]
    [InlineData("DNT", "0", null, null)]
    [InlineData("DNT", "yes", null, null)]
    [InlineData("Sec-GPC", "true", null, null)]
    public async Task Only_the_exact_signal_value_1_is_forwarded(string header, string value, string? dnt, string? gpc)
    {
        await using var host = await StartAsync();
        using var client = host.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/decisions");
        request.Headers.TryAddWithoutValidation(header, value);

        using var response = await client.SendAsync(request);

        await response.ShouldBeOkAsync();
        var call = Assert.Single(host.EdgeCalls);
        Assert.Equal(dnt, call.Dnt);
        Assert.Equal(gpc, call.Gpc);
    }

    [Fact]
    public async Task Skipped_paths_ask_nothing_set_no_cookie_and_answer_not_checked()
    {
        await using var host = await StartAsync();
        using var client = host.CreateClient();

        using var response = await client.GetAsync("/site.css");

        Assert.Equal("analytics=denied:not_checked recommendation=denied:not_checked cart=denied:not_checked", await response.Content.ReadAsStringAsync());
        Assert.Empty(host.EdgeCalls);
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task An_existing_anonymous_cookie_is_kept_and_a_forged_one_replaced()
    {
        await using var host = await StartAsync();
        using var client = host.CreateClient();
        var mine = "anon:" + Guid.NewGuid().ToString("N");

        using var kept = new HttpRequestMessage(HttpMethod.Get, "/decisions");
        kept.Headers.Add("Cookie", $"sa_anon={Uri.EscapeDataString(mine)}");
        using (var response = await client.SendAsync(kept))
        {
            Assert.False(response.Headers.Contains("Set-Cookie"));
        }

        Assert.Equal($"/v1/stores/s1/subjects/{mine}/decisions", Uri.UnescapeDataString(host.EdgeCalls.Last().Path));

        using var forged = new HttpRequestMessage(HttpMethod.Get, "/decisions");
        forged.Headers.Add("Cookie", "sa_anon=u1");
        using (var response = await client.SendAsync(forged))
        {
            var issued = Shopper.AnonymousSubjectFrom(response);
            Assert.NotNull(issued);
            Assert.StartsWith("anon:", issued, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_token_the_edge_refuses_fails_closed_without_failing_the_page()
    {
        // The storefront token of s1 checking store s2: the edge answers 403.
        await using var host = await StartAsync(storeId: "s2");
        using var client = host.CreateClient();

        using var response = await client.GetAsync("/decisions");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("analytics=denied:unavailable recommendation=denied:unavailable cart=denied:unavailable", await response.Content.ReadAsStringAsync());
        Assert.Single(host.EdgeCalls);
    }

    [Fact]
    public async Task Purposes_can_be_chosen_per_request_and_none_means_no_edge_call()
    {
        await using var host = await StartAsync(configure: options => options.PurposesForRequest = context =>
            context.Request.Query["only"] is { Count: > 0 } only ? only.Select(p => p!) : []);
        using var client = host.CreateClient();

        using (var none = await client.GetAsync("/decisions"))
        {
            Assert.Equal("analytics=denied:not_checked recommendation=denied:not_checked cart=denied:not_checked", await none.Content.ReadAsStringAsync());
            Assert.NotNull(Shopper.AnonymousSubjectFrom(none));
        }

        Assert.Empty(host.EdgeCalls);
        using (var one = await client.GetAsync("/decisions?only=analytics"))
        {
            Assert.Equal("analytics=denied:no_consent recommendation=denied:not_checked cart=denied:not_checked", await one.Content.ReadAsStringAsync());
        }

        Assert.Equal("?purpose=analytics", Assert.Single(host.EdgeCalls).Query);
    }

    private async Task<TestStorefront> StartAsync(string storeId = Store, Action<ConsentMiddlewareOptions>? configure = null)
    {
        var calls = new ConcurrentQueue<EdgeCall>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddRouting();
        builder.Services.AddShopAstroConsent(options =>
            {
                options.BaseAddress = new Uri("http://edge.test/");
                options.Token = EdgeApiFactory.StorefrontS1Token;
                options.StoreId = storeId;
            })
            .ConfigurePrimaryHttpMessageHandler(() => new RecordingHandler(calls) { InnerHandler = fixture.Edge.Server.CreateHandler() });

        var app = builder.Build();
        // A stand-in for authentication: the header names the signed-in user.
        app.Use((context, next) =>
        {
            if (context.Request.Headers[UserHeader] is { Count: 1 } user)
            {
                context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user.ToString())], "test"));
            }

            return next(context);
        });
        app.UseShopAstroConsent(configure);
        app.MapGet("/decisions", Echo);
        app.MapGet("/site.css", Echo);
        await app.StartAsync();
        return new TestStorefront(app, calls);
    }

    private static string Echo(HttpContext context)
    {
        var consent = context.GetConsentDecisions();
        return string.Join(' ', ConsentMiddlewareOptions.DefaultPurposes.Select(p => $"{p}={(consent.IsAllowed(p) ? "allowed" : "denied")}:{consent.ReasonFor(p)}"));
    }

    private sealed record EdgeCall(HttpMethod Method, string Path, string Query, string? Authorization, string? Dnt, string? Gpc);

    private sealed class RecordingHandler(ConcurrentQueue<EdgeCall> calls) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            calls.Enqueue(new EdgeCall(
                request.Method,
                request.RequestUri!.AbsolutePath,
                request.RequestUri.Query,
                request.Headers.Authorization?.ToString(),
                request.Headers.TryGetValues("DNT", out var dnt) ? string.Join(",", dnt) : null,
                request.Headers.TryGetValues("Sec-GPC", out var gpc) ? string.Join(",", gpc) : null));
            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class TestStorefront(WebApplication app, ConcurrentQueue<EdgeCall> calls) : IAsyncDisposable
    {
        public IReadOnlyCollection<EdgeCall> EdgeCalls => calls;

        public HttpClient CreateClient() => app.GetTestClient();

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
