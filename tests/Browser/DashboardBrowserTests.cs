using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Browser;

/// <summary>
/// The seller dashboard in Debian's Chromium, driven by Playwright, against the real edge API (hub,
/// stats, policy) listening on a loopback Kestrel port.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class DashboardBrowserTests(DashboardServerFixture server, ITestOutputHelper output)
    : IClassFixture<DashboardServerFixture>, IAsyncLifetime
{
    private const string Store = "s1";
    private readonly List<string> _browserErrors = [];
    private IBrowserContext _context = null!;
    private IPage _page = null!;

    public async Task InitializeAsync()
    {
        _context = await server.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = server.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1280, Height = 860 },
            Locale = "en-GB",
            TimezoneId = "UTC",
        });
        _page = await _context.NewPageAsync();
        _page.Console += (_, message) =>
        {
            if (message.Type is "error" or "warning")
            {
                _browserErrors.Add($"console {message.Type}: {message.Text}");
            }
        };
        _page.PageError += (_, error) => _browserErrors.Add($"page error: {error}");
    }

    public async Task DisposeAsync() => await _context.CloseAsync();

    [Fact]
    public async Task A_consent_written_over_HTTP_shows_in_the_open_dashboard_within_a_second()
    {
        using var seller = server.Factory.ClientWith(EdgeApiFactory.SellerS1Token);
        var version = await server.PublishPolicyOnceAsync(seller);

        await _page.GotoAsync($"/dashboard/{Store}#token={EdgeApiFactory.SellerS1Token}");

        var connection = _page.GetByTestId("connection");
        await Assertions.Expect(connection).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 20_000 });
        await Assertions.Expect(connection).ToContainTextAsync("Connected");
        Assert.DoesNotContain("token=", _page.Url, StringComparison.Ordinal);
        await Assertions.Expect(_page.GetByTestId("store-id")).ToHaveTextAsync(Store);
        await Assertions.Expect(_page.GetByTestId("policy-version")).ToHaveTextAsync(version.ToString());
        var analytics = _page.GetByTestId("optin-analytics");
        var grantedBefore = int.Parse(await analytics.GetAttributeAsync("data-granted") ?? "0");

        var subject = "browser-" + Guid.NewGuid().ToString("N")[..10];
        using var write = await seller.SetConsentAsync(Store, subject, "analytics", granted: true, policyVersion: version);
        var sinceAcknowledged = Stopwatch.StartNew();
        await write.ShouldBeOkAsync();

        var item = _page.GetByTestId("feed-item").Filter(new() { HasText = subject });
        await Assertions.Expect(item).ToBeVisibleAsync(new() { Timeout = 1_000 });
        output.WriteLine($"consentChanged shown {sinceAcknowledged.ElapsedMilliseconds} ms after the PUT's response");
        await Assertions.Expect(item).ToContainTextAsync("analytics");
        await Assertions.Expect(item).ToContainTextAsync("granted");

        // Stats are batched (about 1 s): the bar follows the next statsChanged.
        await Assertions.Expect(analytics).ToHaveAttributeAsync("data-granted", (grantedBefore + 1).ToString(), new() { Timeout = 5_000 });
        await Assertions.Expect(analytics).ToContainTextAsync("granted");
        await Assertions.Expect(analytics.Locator(".optin-pct")).ToHaveTextAsync(new Regex(@"^\d+(\.\d)?%$"));

        // A little more traffic, so the screenshot shows the page as a seller sees it.
        using (var withdrawal = await seller.SetConsentAsync(Store, subject, "recommendation", granted: false, policyVersion: version))
        {
            await withdrawal.ShouldBeOkAsync();
        }

        var other = "browser-" + Guid.NewGuid().ToString("N")[..10];
        using (var grant = await seller.SetConsentAsync(Store, other, "recommendation", granted: true, policyVersion: version))
        {
            await grant.ShouldBeOkAsync();
        }

        await Assertions.Expect(_page.GetByTestId("feed-item").Filter(new() { HasText = other })).ToBeVisibleAsync(new() { Timeout = 2_000 });
        await Assertions.Expect(_page.GetByTestId("feed-item").First).ToContainTextAsync(other);
        await Assertions.Expect(_page.GetByTestId("optin-recommendation")).Not.ToHaveAttributeAsync("data-rate", "", new() { Timeout = 5_000 });

        var screenshot = Path.Combine(DashboardServerFixture.RepositoryRoot(), "artifacts", "screenshots", "dashboard.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await _page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true, Animations = ScreenshotAnimations.Disabled });
        output.WriteLine($"screenshot: {screenshot}");

        Assert.True(_browserErrors.Count == 0, string.Join(Environment.NewLine, _browserErrors));
    }

    [Fact]
    public async Task A_version_scheduled_ahead_shows_as_upcoming_and_goes_when_it_is_withdrawn()
    {
        const string store = "scheduled";
        using var admin = server.Factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await _page.GotoAsync($"/dashboard/{store}#token={EdgeApiFactory.AdminToken}");
        await Assertions.Expect(_page.GetByTestId("connection")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 20_000 });
        var upcoming = _page.GetByTestId("policy-upcoming");
        await Assertions.Expect(upcoming).ToBeHiddenAsync();

        var effectiveAt = DateTimeOffset.UtcNow.AddDays(8).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        using var scheduled = await admin.PutAsync($"/v1/stores/{store}/policy", ConsentApi.Json(
            """{"version":2,"status":"suspended","sellerAttestation":true,"effectiveAt":""" + "\"" + effectiveAt + "\"" + ""","purposes":{"analytics":{"enabled":true,"materialChange":true}}}"""));
        await scheduled.ShouldBeOkAsync(System.Net.HttpStatusCode.Accepted);
        // Told by the live feed (policyScheduled), not by a reload.
        await Assertions.Expect(upcoming).ToBeVisibleAsync(new() { Timeout = 5_000 });
        await Assertions.Expect(upcoming).ToContainTextAsync("next: v2 (suspended)");
        await Assertions.Expect(_page.GetByTestId("policy-version")).ToHaveTextAsync("1");

        await (await admin.DeleteAsync($"/v1/stores/{store}/policy/upcoming/2")).ShouldBeOkAsync(System.Net.HttpStatusCode.NoContent);
        await Assertions.Expect(upcoming).ToBeHiddenAsync(new() { Timeout = 5_000 });
        Assert.True(_browserErrors.Count == 0, string.Join(Environment.NewLine, _browserErrors));
    }

    [Fact]
    public async Task Without_a_token_the_page_asks_for_one_and_refuses_a_token_of_another_store()
    {
        using var seller = server.Factory.ClientWith(EdgeApiFactory.SellerS1Token);
        var version = await server.PublishPolicyOnceAsync(seller);

        await _page.GotoAsync($"/dashboard/{Store}");
        var input = _page.Locator("#token-input");
        await Assertions.Expect(input).ToBeVisibleAsync();
        await Assertions.Expect(_page.GetByTestId("connection")).Not.ToHaveAttributeAsync("data-state", "connected");

        await input.FillAsync(EdgeApiFactory.SellerS2Token);
        await input.PressAsync("Enter");
        await Assertions.Expect(_page.Locator("#token-error")).ToContainTextAsync("does not cover store s1");
        Assert.Null(await _page.EvaluateAsync<string?>("() => sessionStorage.getItem('shopastro.dashboard.token')"));

        await input.FillAsync(EdgeApiFactory.SellerS1Token);
        await input.PressAsync("Enter");
        await Assertions.Expect(_page.GetByTestId("connection")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 20_000 });
        await Assertions.Expect(_page.GetByTestId("policy-version")).ToHaveTextAsync(version.ToString());

        // A reload keeps the tab's token (session storage) and needs no fragment.
        await _page.ReloadAsync();
        await Assertions.Expect(_page.GetByTestId("connection")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 20_000 });

        // The browser reports the refused token's 403s; nothing else may go wrong.
        Assert.True(_browserErrors.All(error => error.Contains("status of 403", StringComparison.Ordinal)), string.Join(Environment.NewLine, _browserErrors));
    }

    [Fact]
    public async Task The_orleans_dashboard_signs_an_admin_in_with_a_form_and_never_puts_the_token_in_a_url()
    {
        var requested = new List<string>();
        _page.Request += (_, request) => requested.Add(request.Url);

        await _page.GotoAsync("/orleans/");
        await Assertions.Expect(_page).ToHaveURLAsync(new Regex("/orleans/login$"));
        await _page.GetByLabel("Admin token").FillAsync(EdgeApiFactory.SellerS1Token);
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(_page.GetByRole(AriaRole.Alert)).ToContainTextAsync("not an admin token");

        await _page.GetByLabel("Admin token").FillAsync(EdgeApiFactory.AdminToken);
        var dashboard = _page.WaitForResponseAsync(response => response.Request.Method == "GET" && response.Url.EndsWith("/orleans/", StringComparison.Ordinal));
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        Assert.Equal(200, (await dashboard).Status);
        await Assertions.Expect(_page).ToHaveURLAsync(new Regex("/orleans/$"));
        var cookie = Assert.Single(await _context.CookiesAsync(), c => c.Name == "shopastro_admin");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.Equal("/orleans", cookie.Path);
        Assert.DoesNotContain(requested, url => url.Contains(EdgeApiFactory.AdminToken, StringComparison.Ordinal)
            || url.Contains(EdgeApiFactory.SellerS1Token, StringComparison.Ordinal));
    }
}

/// <summary>Browser tests run alone: the one-second assertion should not compete with other suites for 2 cores.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrowserCollection
{
    public const string Name = "Browser";
}

/// <summary>One edge API over a fresh SQLite file on a real loopback port, and one Chromium, for the class.</summary>
public sealed class DashboardServerFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private readonly SemaphoreSlim _publish = new(1, 1);
    private int? _policyVersion;
    private TestDatabase _database = null!;
    private IPlaywright _playwright = null!;

    public EdgeApiFactory Factory { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _database = TestDatabase.Sqlite();
        Factory = new EdgeApiFactory(_database.ConnectionString);
        Factory.UseKestrel(0);
        Factory.StartServer();
        BaseAddress = Factory.ClientOptions.BaseAddress;
        Assert.True(BaseAddress.IsLoopback, $"The edge API listens on {BaseAddress}, not on loopback.");

        _playwright = await Playwright.CreateAsync();
        Browser = await LaunchChromiumAsync(_playwright);
    }

    /// <summary>Debian's Chromium, headless, without background traffic.</summary>
    public static Task<IBrowser> LaunchChromiumAsync(IPlaywright playwright)
    {
        Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: apt-get install chromium.");
        return playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args =
            [
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
            ],
        });
    }

    /// <summary>Publishes the store's policy the first time a test needs it; answers its version.</summary>
    public async Task<int> PublishPolicyOnceAsync(HttpClient seller)
    {
        await _publish.WaitAsync();
        try
        {
            if (_policyVersion is null)
            {
                using var response = await seller.PublishPolicyAsync("s1", 1,
                    """{"analytics":{"enabled":true,"materialChange":false},"recommendation":{"enabled":true,"materialChange":false}}""");
                await response.ShouldBeOkAsync();
                _policyVersion = 1;
            }

            return _policyVersion.Value;
        }
        finally
        {
            _publish.Release();
        }
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        if (Factory is not null)
        {
            await Factory.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        _publish.Dispose();
    }

    /// <summary>The folder holding ShopAstro.Actors.sln, found upwards from the test assembly.</summary>
    public static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "ShopAstro.Actors.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"No ShopAstro.Actors.sln above {AppContext.BaseDirectory}.");
    }
}
