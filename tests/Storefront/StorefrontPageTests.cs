using System.Net;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Storefront;

/// <summary>
/// The sample storefront with the consent middleware, in-process, against the real edge API in-process: the
/// page a shopper gets follows the edge's decisions, request by request.
/// </summary>
public sealed class StorefrontPageTests : IClassFixture<StorefrontEdgeFixture>, IAsyncLifetime
{
    private const string Store = StorefrontFactory.Store;
    private readonly StorefrontEdgeFixture _fixture;
    private readonly StorefrontFactory _storefront;

    public StorefrontPageTests(StorefrontEdgeFixture fixture)
    {
        _fixture = fixture;
        _storefront = new StorefrontFactory(fixture.Edge);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _storefront.DisposeAsync();

    [Fact]
    public async Task A_new_shopper_gets_an_anonymous_cookie_and_a_page_without_tracking_or_recommendations()
    {
        using var shopper = Shopper.Of(_storefront);
        using var response = await shopper.SendAsync(HttpMethod.Get, "/", null);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("sa_anon=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Matches("^anon:[0-9a-f]{32}$", shopper.SubjectId);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());

        Assert.False(Page.HasTracking(html), html);
        Assert.False(Page.HasRecommendations(html), html);
        Assert.Contains("analytics: no_consent", html, StringComparison.Ordinal);
        Assert.Contains("src=\"/consent-banner.js\"", html, StringComparison.Ordinal);
        Assert.Contains("Add to cart", html, StringComparison.Ordinal);

        // The same shopper keeps its id: no second cookie, and the edge sees one subject.
        using var again = await shopper.SendAsync(HttpMethod.Get, "/", null);
        Assert.False(again.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task Granting_analytics_on_the_banner_adds_the_tracking_script_and_withdrawing_removes_it()
    {
        using var shopper = Shopper.Of(_storefront);
        Assert.False(Page.HasTracking(await shopper.ViewProductPageAsync()));

        using (var grant = await shopper.ChooseAsync("""{"analytics":true,"recommendation":false}"""))
        {
            await grant.ShouldBeOkAsync(HttpStatusCode.NoContent);
        }

        var granted = await shopper.ViewProductPageAsync();
        Assert.True(Page.HasTracking(granted), granted);
        Assert.False(Page.HasRecommendations(granted), granted);
        Assert.Equal((true, "granted"), await _fixture.Admin.DecideAsync(Store, shopper.SubjectId!, "analytics"));

        using (var withdrawal = await shopper.ChooseAsync("""{"analytics":false}"""))
        {
            await withdrawal.ShouldBeOkAsync(HttpStatusCode.NoContent);
        }

        var withdrawn = await shopper.ViewProductPageAsync();
        Assert.False(Page.HasTracking(withdrawn), withdrawn);
        Assert.Contains("analytics: withdrawn", withdrawn, StringComparison.Ordinal);
        Assert.Equal((false, "withdrawn"), await _fixture.Admin.DecideAsync(Store, shopper.SubjectId!, "analytics"));
    }

    [Fact]
    public async Task A_grant_recorded_at_the_edge_directly_shows_on_the_next_page_view()
    {
        using var shopper = Shopper.Of(_storefront);
        Assert.False(Page.HasRecommendations(await shopper.ViewProductPageAsync()));

        using (var grant = await _fixture.Admin.SetConsentAsync(Store, shopper.SubjectId!, "recommendation", granted: true, source: "account_settings"))
        {
            await grant.ShouldBeOkAsync();
        }

        var html = await shopper.ViewProductPageAsync();
        Assert.True(Page.HasRecommendations(html), html);
        Assert.Contains("Recommended for you", html, StringComparison.Ordinal);
        Assert.False(Page.HasTracking(html), html);
    }

    [Fact]
    public async Task Do_not_track_on_the_page_request_removes_tracking_granted_without_it()
    {
        using var shopper = Shopper.Of(_storefront);
        await shopper.ViewProductPageAsync();
        using (var grant = await shopper.ChooseAsync("""{"analytics":true}"""))
        {
            await grant.ShouldBeOkAsync(HttpStatusCode.NoContent);
        }

        var withDnt = await shopper.ViewProductPageAsync(("DNT", "1"));
        Assert.False(Page.HasTracking(withDnt), withDnt);
        Assert.Contains("analytics: do_not_track", withDnt, StringComparison.Ordinal);

        // Only the exact value 1 is a signal, and the storefront forwards nothing else.
        Assert.True(Page.HasTracking(await shopper.ViewProductPageAsync(("DNT", "0"))));
        Assert.True(Page.HasTracking(await shopper.ViewProductPageAsync()));
    }

    [Fact]
    public async Task Global_privacy_control_overrides_a_grant_given_without_it_but_not_one_given_with_it()
    {
        using var withoutSignal = Shopper.Of(_storefront);
        await withoutSignal.ViewProductPageAsync();
        using (var grant = await withoutSignal.ChooseAsync("""{"analytics":true}"""))
        {
            await grant.ShouldBeOkAsync(HttpStatusCode.NoContent);
        }

        var overridden = await withoutSignal.ViewProductPageAsync(("Sec-GPC", "1"));
        Assert.False(Page.HasTracking(overridden), overridden);
        Assert.Contains("analytics: global_privacy_control", overridden, StringComparison.Ordinal);

        // The banner's POST carries the browser's Sec-GPC, and the edge records it with the grant.
        using var withSignal = Shopper.Of(_storefront);
        await withSignal.ViewProductPageAsync(("Sec-GPC", "1"));
        using (var grant = await withSignal.ChooseAsync("""{"analytics":true}""", headers: ("Sec-GPC", "1")))
        {
            await grant.ShouldBeOkAsync(HttpStatusCode.NoContent);
        }

        Assert.True(Page.HasTracking(await withSignal.ViewProductPageAsync(("Sec-GPC", "1"))));
        Assert.Equal((true, "granted"), await _fixture.Admin.DecideAsync(Store, withSignal.SubjectId!, "analytics", gpc: true));
        using var record = await _fixture.Admin.GetAsync($"/v1/stores/{Store}/subjects/{withSignal.SubjectId}");
        var receipt = (await record.ReadJsonAsync())["receipts"]![0]!;
        Assert.True(receipt["gpc"]!.GetValue<bool>());
        Assert.False(receipt["dnt"]!.GetValue<bool>());
        Assert.Equal("banner", receipt["source"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_consent_state_tells_the_banner_the_policy_version_the_purposes_and_whether_to_ask()
    {
        using var shopper = Shopper.Of(_storefront);
        using var before = await shopper.SendAsync(HttpMethod.Get, "/consent/state", null);
        await before.ShouldBeOkAsync();
        var state = await before.ReadJsonAsync();
        Assert.Equal(StorefrontEdgeFixture.PolicyVersion, state["policyVersion"]!.GetValue<int>());
        Assert.Equal(["analytics", "recommendation", "advertising", "affiliate_sharing"],
            state["purposes"]!.AsArray().Select(p => p!.GetValue<string>()));
        Assert.True(state["choiceNeeded"]!.GetValue<bool>());
        Assert.All(state["decisions"]!.AsArray(), d => Assert.Equal("no_consent", d!["reason"]!.GetValue<string>()));
        Assert.DoesNotContain(EdgeApiFactory.StorefrontS1Token, state.ToJsonString(), StringComparison.Ordinal);

        using (var choice = await shopper.ChooseAsync("""{"analytics":true,"recommendation":false,"advertising":false,"affiliate_sharing":false}"""))
        {
            await choice.ShouldBeOkAsync(HttpStatusCode.NoContent);
        }

        using var after = await shopper.SendAsync(HttpMethod.Get, "/consent/state", null);
        var chosen = await after.ReadJsonAsync();
        Assert.False(chosen["choiceNeeded"]!.GetValue<bool>());
        Assert.Equal(
            [("analytics", "granted"), ("recommendation", "withdrawn"), ("advertising", "withdrawn"), ("affiliate_sharing", "withdrawn")],
            chosen["decisions"]!.AsArray().Select(d => (d!["purpose"]!.GetValue<string>(), d["reason"]!.GetValue<string>())));
    }

    [Fact]
    public async Task A_choice_is_refused_when_it_is_not_one_the_banner_could_make()
    {
        using var shopper = Shopper.Of(_storefront);
        await shopper.ViewProductPageAsync();

        using (var cart = await shopper.ChooseAsync("""{"cart":false}"""))
        {
            await cart.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_purposes");
        }

        using (var form = await shopper.SendAsync(HttpMethod.Post, "/consent", new StringContent("purposes=analytics")))
        {
            await form.ShouldBeProblemAsync(HttpStatusCode.UnsupportedMediaType, "json_required");
        }

        using (var crossSite = await shopper.ChooseAsync("""{"analytics":true}""", headers: ("Sec-Fetch-Site", "cross-site")))
        {
            await crossSite.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "cross_site");
        }

        // The edge's own refusal comes through with its code.
        using (var ahead = await shopper.ChooseAsync("""{"analytics":true}""", policyVersion: 99))
        {
            await ahead.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "policy_version_ahead");
        }

        Assert.Equal((false, "no_consent"), await _fixture.Admin.DecideAsync(Store, shopper.SubjectId!, "analytics"));
    }

    [Fact]
    public async Task The_banner_script_is_a_static_file_served_without_a_consent_check()
    {
        using var shopper = Shopper.Of(_storefront);
        using var script = await shopper.SendAsync(HttpMethod.Get, "/consent-banner.js", null);
        await script.ShouldBeOkAsync();
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.Contains("globalPrivacyControl", await script.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.False(script.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task An_unreachable_edge_fails_closed_and_the_page_still_renders()
    {
        await using var offline = new StorefrontFactory(edge: null, edgeAddress: StorefrontFactory.UnreachableEdge());
        using var shopper = Shopper.Of(offline);

        var html = await shopper.ViewProductPageAsync(("DNT", "0"));
        Assert.False(Page.HasTracking(html), html);
        Assert.False(Page.HasRecommendations(html), html);
        Assert.Contains("analytics: unavailable", html, StringComparison.Ordinal);
        Assert.Contains("cart: unavailable", html, StringComparison.Ordinal);
        Assert.Contains("Cart unavailable right now", html, StringComparison.Ordinal);

        using (var state = await shopper.SendAsync(HttpMethod.Get, "/consent/state", null))
        {
            await state.ShouldBeProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
        }

        using (var choice = await shopper.ChooseAsync("""{"analytics":true}"""))
        {
            await choice.ShouldBeProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
        }
    }
}
