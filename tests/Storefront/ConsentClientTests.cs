using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ShopAstro.Storefront.Client;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Storefront;

/// <summary>
/// <see cref="ConsentClient"/> against the real edge API in-process: the contract's calls, its problems as
/// <see cref="ConsentApiException"/> with their codes, and fail-closed decisions when the edge is not there.
/// </summary>
public sealed class ConsentClientTests(StorefrontEdgeFixture fixture) : IClassFixture<StorefrontEdgeFixture>
{
    private const string Store = StorefrontFactory.Store;
    private const int Version = StorefrontEdgeFixture.PolicyVersion;

    [Fact]
    public async Task An_unknown_purpose_is_a_400_unknown_purpose()
    {
        var client = Client(EdgeApiFactory.StorefrontS1Token);

        var problem = await Assert.ThrowsAsync<ConsentApiException>(() =>
            client.GetDecisionsAsync(Store, Subject(), [ConsentPurposes.Analytics, "telepathy"]));

        Assert.Equal(400, problem.Status);
        Assert.Equal("unknown_purpose", problem.Code);
        Assert.Equal("urn:shopastro:problem:unknown_purpose", problem.Type);
        Assert.Contains("telepathy", problem.Detail, StringComparison.Ordinal);
        Assert.False(problem.IsUnavailable);
    }

    [Fact]
    public async Task The_edges_refusals_surface_with_their_status_and_code()
    {
        var storefront = Client(EdgeApiFactory.StorefrontS1Token);
        var subject = Subject();

        await AssertProblem(400, "invalid_id", () => storefront.GetDecisionsAsync(Store, "not a valid id!", [ConsentPurposes.Analytics]));
        await AssertProblem(400, "purpose_not_consent_based", () =>
            storefront.SetConsentsAsync(Store, subject, new Dictionary<string, bool> { [ConsentPurposes.Cart] = false }, Version, ConsentSources.Banner));
        await AssertProblem(422, "policy_version_ahead", () =>
            storefront.SetConsentsAsync(Store, subject, new Dictionary<string, bool> { [ConsentPurposes.Analytics] = true }, Version + 5, ConsentSources.Banner));
        await AssertProblem(400, "invalid_source", () =>
            storefront.SetConsentsAsync(Store, subject, new Dictionary<string, bool> { [ConsentPurposes.Analytics] = true }, Version, "popup"));
        // The storefront role does not read subject records (a seller's), nor another store's decisions.
        await AssertProblem(403, "forbidden", () => storefront.GetSubjectAsync(Store, subject));
        await AssertProblem(403, "forbidden", () => storefront.GetDecisionsAsync("s2", subject, [ConsentPurposes.Analytics]));
        await AssertProblem(401, "unauthorized", () => Client("not-a-token").GetPolicyAsync(Store));
        await AssertProblem(400, "invalid_anonymous_id", () => storefront.LinkAsync(Store, subject, "u2"));
    }

    [Fact]
    public async Task Consents_decisions_and_the_record_round_trip_with_the_shoppers_signals()
    {
        var storefront = Client(EdgeApiFactory.StorefrontS1Token);
        var seller = Client(EdgeApiFactory.SellerS1Token);
        var subject = Subject();
        Assert.Null(await seller.GetSubjectAsync(Store, subject));

        var record = await storefront.SetConsentsAsync(Store, subject,
            new Dictionary<string, bool> { [ConsentPurposes.Analytics] = true, [ConsentPurposes.Advertising] = false },
            Version, ConsentSources.Banner, new PrivacySignals(Dnt: true, Gpc: false));

        Assert.Equal("active", record.Status);
        Assert.True(record.Consents[ConsentPurposes.Analytics].Granted);
        Assert.Equal(Version, record.Consents[ConsentPurposes.Analytics].PolicyVersion);
        var receipt = Assert.Single(record.Receipts, r => r.Purpose == ConsentPurposes.Analytics);
        Assert.True(receipt.Dnt);
        Assert.False(receipt.Gpc);
        Assert.Equal(ConsentSources.Banner, receipt.Source);

        var decisions = await storefront.GetDecisionsAsync(Store, subject,
            [ConsentPurposes.Analytics, ConsentPurposes.Advertising, ConsentPurposes.Cart, ConsentPurposes.Necessary],
            new PrivacySignals(Dnt: true, Gpc: true));
        Assert.False(decisions.Unavailable);
        Assert.Equal(Version, decisions.PolicyVersion);
        // Granted under DNT, so DNT does not override it, but GPC (absent at the grant) does.
        Assert.Equal(
            [("analytics", false, "global_privacy_control"), ("advertising", false, "withdrawn"), ("cart", true, "contract"), ("necessary", true, "necessary")],
            decisions.Decisions.Select(d => (d.Purpose, d.Allowed, d.Reason)));
        Assert.True((await storefront.GetDecisionsAsync(Store, subject, [ConsentPurposes.Analytics], new PrivacySignals(Dnt: true, Gpc: false)))
            .IsAllowed(ConsentPurposes.Analytics));

        var explained = await storefront.GetDecisionsAsync(Store, subject, [ConsentPurposes.Analytics], explain: true);
        Assert.NotEmpty(explained.Decisions[0].Trace!);
        Assert.Contains(explained.Decisions[0].Trace!, step => step.Applied);

        var read = await seller.GetSubjectAsync(Store, subject);
        Assert.NotNull(read);
        Assert.Equal(record.Receipts.Select(r => r.ReceiptId), read.Receipts.Select(r => r.ReceiptId));
    }

    [Fact]
    public async Task A_batch_answers_in_item_order_with_the_bodys_signals()
    {
        var storefront = Client(EdgeApiFactory.StorefrontS1Token);
        var (granted, never) = (Subject(), Subject());
        await storefront.SetConsentsAsync(Store, granted, new Dictionary<string, bool> { [ConsentPurposes.Recommendation] = true }, Version, ConsentSources.Api);

        var results = await storefront.DecideBatchAsync(Store,
        [
            new(granted, ConsentPurposes.Recommendation), new(never, ConsentPurposes.Recommendation), new(granted, ConsentPurposes.Cart),
        ]);
        Assert.Equal(
            [(granted, "recommendation", true, "granted"), (never, "recommendation", false, "no_consent"), (granted, "cart", true, "contract")],
            results.Select(r => (r.SubjectId, r.Purpose, r.Allowed, r.Reason)));

        var underDnt = await storefront.DecideBatchAsync(Store, [new(granted, ConsentPurposes.Recommendation)], new PrivacySignals(Dnt: true, Gpc: false));
        Assert.Equal("do_not_track", Assert.Single(underDnt).Reason);
    }

    [Fact]
    public async Task The_policy_link_age_cancellation_and_deletion_calls_do_what_the_contract_says()
    {
        var storefront = Client(EdgeApiFactory.StorefrontS1Token);
        var seller = Client(EdgeApiFactory.SellerS1Token);

        var policy = await storefront.GetPolicyAsync(Store);
        Assert.NotNull(policy);
        Assert.Equal(Version, policy.Version);
        Assert.Equal("active", policy.Status);
        Assert.Equal(ConsentPurposes.ConsentBased, policy.ConsentPurposesInUse());
        Assert.Null(await Client(EdgeApiFactory.AdminToken).GetPolicyAsync("never-published"));

        // A visitor's grant carries over to the account it logs in to.
        var (visitor, account) = ("anon:" + Guid.NewGuid().ToString("N"), Subject());
        await storefront.SetConsentsAsync(Store, visitor, new Dictionary<string, bool> { [ConsentPurposes.Analytics] = true }, Version, ConsentSources.Banner);
        var merged = await storefront.LinkAsync(Store, account, visitor);
        Assert.Equal(account, merged.SubjectId);
        Assert.True(merged.Consents[ConsentPurposes.Analytics].Granted);
        Assert.True((await storefront.GetDecisionsAsync(Store, account, [ConsentPurposes.Analytics])).IsAllowed(ConsentPurposes.Analytics));

        await storefront.SetMinorAsync(Store, account);
        var minor = await storefront.GetDecisionsAsync(Store, account, [ConsentPurposes.Analytics, ConsentPurposes.Necessary]);
        Assert.Equal(ConsentReasons.Minor, minor.ReasonFor(ConsentPurposes.Analytics));
        Assert.True(minor.IsAllowed(ConsentPurposes.Necessary));
        await AssertProblem(409, "subject_minor", () =>
            storefront.SetConsentsAsync(Store, account, new Dictionary<string, bool> { [ConsentPurposes.Analytics] = true }, Version, ConsentSources.Banner));

        var leaving = Subject();
        await storefront.SetConsentsAsync(Store, leaving, new Dictionary<string, bool> { [ConsentPurposes.Analytics] = true }, Version, ConsentSources.Banner);
        await seller.CancelAsync(Store, leaving);
        Assert.Equal(ConsentReasons.AccountCancelled,
            (await storefront.GetDecisionsAsync(Store, leaving, [ConsentPurposes.Analytics])).ReasonFor(ConsentPurposes.Analytics));

        var erased = Subject();
        await storefront.SetConsentsAsync(Store, erased, new Dictionary<string, bool> { [ConsentPurposes.Analytics] = true }, Version, ConsentSources.Banner);
        await seller.DeleteSubjectAsync(Store, erased);
        Assert.Equal(ConsentReasons.NoConsent,
            (await storefront.GetDecisionsAsync(Store, erased, [ConsentPurposes.Analytics])).ReasonFor(ConsentPurposes.Analytics));
    }

    [Fact]
    public async Task An_unreachable_edge_denies_every_purpose_but_necessary()
    {
        var offline = Offline(new HttpClientHandler());

        var decisions = await offline.GetDecisionsAsync(Store, "u1",
            [ConsentPurposes.Analytics, ConsentPurposes.Cart, ConsentPurposes.Necessary, ConsentPurposes.Recommendation]);

        Assert.True(decisions.Unavailable);
        Assert.Equal(
            [("analytics", false, "unavailable"), ("cart", false, "unavailable"), ("necessary", true, "necessary"), ("recommendation", false, "unavailable")],
            decisions.Decisions.Select(d => (d.Purpose, d.Allowed, d.Reason)));
        var batch = await offline.DecideBatchAsync(Store, [new("u1", ConsentPurposes.Analytics), new("u2", ConsentPurposes.Necessary)]);
        Assert.Equal([(false, "unavailable"), (true, "necessary")], batch.Select(r => (r.Allowed, r.Reason)));

        // Writes and reads have no safe default: they throw, marked as an outage.
        var write = await Assert.ThrowsAsync<ConsentApiException>(() =>
            offline.SetConsentsAsync(Store, "u1", new Dictionary<string, bool> { [ConsentPurposes.Analytics] = true }, Version, ConsentSources.Banner));
        Assert.True(write.IsUnavailable);
        Assert.Equal(ConsentApiException.UnavailableCode, write.Code);
        Assert.IsType<HttpRequestException>(write.InnerException);
    }

    [Fact]
    public async Task The_fail_closed_answer_is_configurable_but_never_opens_a_consent_purpose()
    {
        var cartKeepsWorking = Offline(new HttpClientHandler(), UnavailableBehavior.DenyConsentBased);
        var decisions = await cartKeepsWorking.GetDecisionsAsync(Store, "u1", [ConsentPurposes.Cart, ConsentPurposes.Analytics]);
        Assert.Equal([("cart", true, "contract"), ("analytics", false, "unavailable")], decisions.Decisions.Select(d => (d.Purpose, d.Allowed, d.Reason)));

        var throwing = Offline(new HttpClientHandler(), UnavailableBehavior.Throw);
        var problem = await Assert.ThrowsAsync<ConsentApiException>(() => throwing.GetDecisionsAsync(Store, "u1", [ConsentPurposes.Analytics]));
        Assert.Equal(503, problem.Status);
    }

    [Fact]
    public async Task A_slow_or_failing_edge_counts_as_unavailable()
    {
        var slow = Offline(new StubHandler(async cancellationToken =>
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }));
        var decisions = await slow.GetDecisionsAsync(Store, "u1", [ConsentPurposes.Analytics]);
        Assert.Equal((false, "unavailable"), (decisions.IsAllowed(ConsentPurposes.Analytics), decisions.ReasonFor(ConsentPurposes.Analytics)));

        var outage = Offline(new StubHandler(_ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
        {
            Content = new StringContent("""{"status":503,"code":"unavailable","title":"The consent store is unavailable; retry shortly."}""",
                Encoding.UTF8, "application/problem+json"),
        })));
        Assert.True((await outage.GetDecisionsAsync(Store, "u1", [ConsentPurposes.Analytics])).Unavailable);

        var garbage = Offline(new StubHandler(_ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new StringContent("<html>a captive portal</html>", Encoding.UTF8, "application/json"),
        })));
        Assert.Equal(ConsentReasons.Unavailable,
            (await garbage.GetDecisionsAsync(Store, "u1", [ConsentPurposes.Analytics])).ReasonFor(ConsentPurposes.Analytics));

        // The caller's own cancellation is not an outage.
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            slow.GetDecisionsAsync(Store, "u1", [ConsentPurposes.Analytics], cancellationToken: cancelled.Token));
    }

    [Fact]
    public async Task AddShopAstroConsent_registers_a_typed_client_and_validates_its_options()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddShopAstroConsent(options =>
            {
                options.BaseAddress = new Uri("http://edge.test/");
                options.Token = EdgeApiFactory.StorefrontS1Token;
                options.StoreId = Store;
            })
            .ConfigurePrimaryHttpMessageHandler(() => fixture.Edge.Server.CreateHandler());
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<ConsentClient>();
        Assert.Equal(Store, client.StoreId);
        Assert.Equal(Version, (await client.GetPolicyAsync(Store))!.Version);

        var missing = new ServiceCollection().AddLogging();
        missing.AddShopAstroConsent(options => options.BaseAddress = new Uri("http://edge.test/"));
        await using var invalid = missing.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => invalid.GetRequiredService<ConsentClient>());
        Assert.Contains("Token", error.Message, StringComparison.Ordinal);
    }

    private ConsentClient Client(string token) =>
        new(new HttpClient(fixture.Edge.Server.CreateHandler()),
            Options.Create(new ConsentClientOptions { BaseAddress = new Uri("http://edge.test/"), Token = token, StoreId = Store }));

    private static ConsentClient Offline(HttpMessageHandler handler, UnavailableBehavior behavior = UnavailableBehavior.DenyAllButNecessary) =>
        new(new HttpClient(handler),
            Options.Create(new ConsentClientOptions
            {
                BaseAddress = StorefrontFactory.UnreachableEdge(),
                Token = EdgeApiFactory.StorefrontS1Token,
                StoreId = Store,
                Timeout = TimeSpan.FromMilliseconds(500),
                WhenUnavailable = behavior,
            }));

    private static string Subject() => "client-" + Guid.NewGuid().ToString("N")[..12];

    private static async Task AssertProblem(int status, string code, Func<Task> call)
    {
        var problem = await Assert.ThrowsAsync<ConsentApiException>(call);
        Assert.True(status == problem.Status && code == problem.Code, $"Expected {status} {code}, got {problem.Status} {problem.Code}: {problem.Message}");
    }

    private sealed class StubHandler(Func<CancellationToken, Task<HttpResponseMessage>> answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => answer(cancellationToken);
    }
}
