using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Security;

/// <summary>
/// The Orleans dashboard takes its admin token from a login form, never from the URL, into an HttpOnly,
/// SameSite=Strict cookie for /orleans that is Secure on HTTPS, also behind a TLS proxy it trusts.
/// </summary>
public sealed class OrleansDashboardLoginTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    // ---------------------------------------------------------------- the Orleans dashboard's login

    [Fact]
    public async Task The_orleans_dashboard_takes_no_token_from_the_query_string()
    {
        var browser = fixture.Factory.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = true, AllowAutoRedirect = false });

        var response = await browser.GetAsync($"/orleans/?access_token={EdgeApiFactory.AdminToken}");

        await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.False(response.Headers.Contains("Set-Cookie"));
        await (await browser.GetAsync("/orleans/")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task The_orleans_dashboard_login_form_posts_the_token_and_sets_a_strict_httponly_cookie()
    {
        var browser = fixture.Factory.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = true, AllowAutoRedirect = false });

        var form = await browser.GetAsync("/orleans/login");
        Assert.Equal(HttpStatusCode.OK, form.StatusCode);
        var page = await form.Content.ReadAsStringAsync();
        Assert.Contains("method=\"post\"", page, StringComparison.Ordinal);
        Assert.Contains("name=\"token\"", page, StringComparison.Ordinal);

        foreach (var wrong in new[] { "not-a-token", EdgeApiFactory.SellerS1Token, "" })
        {
            var refused = await browser.PostAsync("/orleans/login", new FormUrlEncodedContent([new("token", wrong)]));
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.False(refused.Headers.Contains("Set-Cookie"));
        }

        var signedIn = await browser.PostAsync("/orleans/login", new FormUrlEncodedContent([new("token", EdgeApiFactory.AdminToken)]));

        Assert.Equal(HttpStatusCode.SeeOther, signedIn.StatusCode);
        Assert.Equal("/orleans/", signedIn.Headers.Location?.ToString());
        var cookie = Assert.Single(signedIn.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith("shopastro_admin=", cookie, StringComparison.Ordinal);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/orleans", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secure", cookie.Replace("samesite", "", StringComparison.OrdinalIgnoreCase), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/orleans/")).StatusCode);
        // The cookie is for the dashboard only, not a way into the API.
        await (await browser.GetAsync("/v1/stores/s1/policy")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_browser_opening_the_orleans_dashboard_without_the_cookie_is_sent_to_the_login_form()
    {
        var browser = fixture.Factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/orleans/");
        request.Headers.Accept.ParseAdd("text/html,application/xhtml+xml");

        var response = await browser.SendAsync(request);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/orleans/login", response.Headers.Location?.ToString());
    }

    [Theory]
    [InlineData("127.0.0.1", null, true)] // a proxy on the same host (ASP.NET Core's default known proxy)
    [InlineData("172.28.50.7", "172.28.50.0/24", true)] // the compose file's nginx on the cluster network
    [InlineData("198.51.100.9", "172.28.50.0/24", false)] // anyone else claiming HTTPS is not believed
    public async Task Behind_a_TLS_proxy_the_login_cookie_is_Secure(string connectionIp, string? knownNetwork, bool secure)
    {
        await using var database = TestDatabase.Sqlite();
        await using var edge = new EdgeApiFactory(database.ConnectionString, new Dictionary<string, string?>
        {
            ["ForwardedHeaders:KnownNetworks:0"] = knownNetwork,
        });
        await using var factory = edge.WithWebHostBuilder(builder => builder.ConfigureServices(
            services => services.AddSingleton<IStartupFilter>(new ConnectionFrom(IPAddress.Parse(connectionIp)))));
        var proxy = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/orleans/login")
        {
            Content = new FormUrlEncodedContent([new("token", EdgeApiFactory.AdminToken)]),
        };
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-For", "203.0.113.10");

        var response = await proxy.SendAsync(request);

        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.Equal(secure, cookie.Split(';').Any(part => part.Trim().Equals("secure", StringComparison.OrdinalIgnoreCase)));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Requests arrive from <paramref name="address"/>, as from a proxy in front of the edge.</summary>
    private sealed class ConnectionFrom(IPAddress address) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                context.Connection.RemoteIpAddress = address;
                return nextMiddleware(context);
            });
            next(app);
        };
    }
}
