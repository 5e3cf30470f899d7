using Microsoft.Playwright;
using ShopAstro.Tests.Browser;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Storefront;

/// <summary>
/// The consent banner in Debian's Chromium, driven by Playwright: the sample storefront on a real loopback
/// port, its consent client talking to the real edge API (in-memory).
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class BannerBrowserTests(BannerServerFixture server, ITestOutputHelper output)
    : IClassFixture<BannerServerFixture>, IAsyncLifetime
{
    private const string Store = StorefrontFactory.Store;
    private const string TrackingScript = "script#shopastro-analytics";
    private readonly List<string> _browserErrors = [];
    private IBrowserContext _context = null!;
    private IPage _page = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_context is not null)
        {
            await _context.CloseAsync();
        }
    }

    [Fact]
    public async Task Accept_all_on_the_banner_grants_analytics_at_the_edge_and_the_next_page_has_the_tracking_script()
    {
        await OpenAsync(gpc: false);
        await _page.GotoAsync("/");

        var banner = Banner();
        await Assertions.Expect(banner).ToBeVisibleAsync(new() { Timeout = 10_000 });
        await Assertions.Expect(_page.Locator(TrackingScript)).ToHaveCountAsync(0);
        await Assertions.Expect(_page.GetByRole(AriaRole.Heading, new() { Name = "Recommended for you" })).ToHaveCountAsync(0);
        foreach (var purpose in new[] { "Analytics", "Recommendations", "Advertising", "Sharing with affiliates" })
        {
            await Assertions.Expect(banner.GetByRole(AriaRole.Switch, new() { Name = purpose })).Not.ToBeCheckedAsync();
        }

        await Assertions.Expect(banner.GetByTestId("consent-gpc")).ToHaveCountAsync(0);
        await ScreenshotAsync("banner.png");

        await ReloadAfterAsync(() => banner.GetByRole(AriaRole.Button, new() { Name = "Accept all" }).ClickAsync());

        await Assertions.Expect(_page.Locator(TrackingScript)).ToHaveCountAsync(1);
        await Assertions.Expect(_page.Locator("html")).ToHaveAttributeAsync("data-analytics", "loaded");
        await Assertions.Expect(_page.GetByRole(AriaRole.Heading, new() { Name = "Recommended for you" })).ToBeVisibleAsync();
        await Assertions.Expect(banner).ToHaveCountAsync(0);

        var subject = await AnonymousSubjectAsync();
        Assert.Equal((true, "granted"), await server.Edge.Admin.DecideAsync(Store, subject, "analytics"));
        Assert.Equal((true, "granted"), await server.Edge.Admin.DecideAsync(Store, subject, "advertising"));
        Assert.True(_browserErrors.Count == 0, string.Join(Environment.NewLine, _browserErrors));
    }

    [Fact]
    public async Task With_global_privacy_control_the_banner_says_so_and_keeps_advertising_and_sharing_off()
    {
        await OpenAsync(gpc: true);
        await _page.GotoAsync("/");

        var banner = Banner();
        await Assertions.Expect(banner.GetByTestId("consent-gpc")).ToContainTextAsync("Global Privacy Control", new() { Timeout = 10_000 });
        await Assertions.Expect(banner.GetByRole(AriaRole.Switch, new() { Name = "Advertising" })).Not.ToBeCheckedAsync();
        await ScreenshotAsync("banner-gpc.png");

        await ReloadAfterAsync(() => banner.GetByRole(AriaRole.Button, new() { Name = "Accept all" }).ClickAsync());

        // The grant was given with the browser's Sec-GPC, so it survives the signal on the next page view.
        await Assertions.Expect(_page.Locator(TrackingScript)).ToHaveCountAsync(1);
        var subject = await AnonymousSubjectAsync();
        Assert.Equal((true, "granted"), await server.Edge.Admin.DecideAsync(Store, subject, "analytics", gpc: true));
        Assert.Equal((false, "withdrawn"), await server.Edge.Admin.DecideAsync(Store, subject, "advertising", gpc: true));
        Assert.Equal((false, "withdrawn"), await server.Edge.Admin.DecideAsync(Store, subject, "affiliate_sharing", gpc: true));
        Assert.True(_browserErrors.Count == 0, string.Join(Environment.NewLine, _browserErrors));
    }

    [Fact]
    public async Task Reject_records_withdrawals_and_the_banner_does_not_ask_again_until_reopened()
    {
        await OpenAsync(gpc: false);
        await _page.GotoAsync("/");
        var banner = Banner();
        await Assertions.Expect(banner).ToBeVisibleAsync(new() { Timeout = 10_000 });

        await ReloadAfterAsync(() => banner.GetByRole(AriaRole.Button, new() { Name = "Reject" }).ClickAsync());

        await Assertions.Expect(_page.GetByTestId("consent-reasons")).ToContainTextAsync("analytics: withdrawn");
        await Assertions.Expect(banner).ToHaveCountAsync(0);
        await Assertions.Expect(_page.Locator(TrackingScript)).ToHaveCountAsync(0);
        Assert.Equal((false, "withdrawn"), await server.Edge.Admin.DecideAsync(Store, await AnonymousSubjectAsync(), "analytics"));

        // "Privacy choices" reopens it; each purpose is a labelled switch.
        await _page.GetByRole(AriaRole.Button, new() { Name = "Privacy choices" }).ClickAsync();
        await Assertions.Expect(banner).ToBeVisibleAsync();
        await banner.GetByRole(AriaRole.Switch, new() { Name = "Analytics" }).CheckAsync();
        await ReloadAfterAsync(() => banner.GetByRole(AriaRole.Button, new() { Name = "Save choices" }).ClickAsync());

        await Assertions.Expect(_page.Locator(TrackingScript)).ToHaveCountAsync(1);
        await Assertions.Expect(_page.GetByTestId("consent-reasons")).ToContainTextAsync("recommendation: withdrawn");
        Assert.True(_browserErrors.Count == 0, string.Join(Environment.NewLine, _browserErrors));
    }

    private ILocator Banner() => _page.GetByRole(AriaRole.Region, new() { Name = "Your privacy choices" });

    private async Task OpenAsync(bool gpc)
    {
        _context = await server.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = server.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1100, Height = 760 },
            Locale = "en-GB",
            TimezoneId = "UTC",
            // A browser with Global Privacy Control on: the header on every request, and the DOM property.
            ExtraHTTPHeaders = gpc ? new Dictionary<string, string> { ["Sec-GPC"] = "1" } : null,
        });
        if (gpc)
        {
            await _context.AddInitScriptAsync("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });");
        }

        _page = await _context.NewPageAsync();
        _page.Console += (_, message) =>
        {
            if (message.Type is "error" or "warning")
            {
                _browserErrors.Add($"console {message.Type}: {message.Text}");
            }
        };
        _page.PageError += (_, error) => _browserErrors.Add($"page error: {error}");
        _page.Response += (_, response) => output.WriteLine($"{response.Request.Method} {response.Url} {response.Status}");
    }

    /// <summary>Runs the action and waits for the reload the banner does after a saved choice.</summary>
    private async Task ReloadAfterAsync(Func<Task> action)
    {
        await _page.EvaluateAsync("() => { window.__beforeChoice = true; }");
        var consentSaved = _page.WaitForResponseAsync(r => r.Url.EndsWith("/consent", StringComparison.Ordinal) && r.Request.Method == "POST");
        await action();
        var saved = await consentSaved;
        Assert.True(saved.Status == 204, $"POST /consent answered {saved.Status}");
        // A new document has none of the old one's globals.
        await _page.WaitForFunctionAsync("() => window.__beforeChoice === undefined && document.readyState === 'complete'");
    }

    /// <summary>The shopper's subject id: the storefront's HttpOnly <c>sa_anon</c> cookie, which the page's scripts cannot read.</summary>
    private async Task<string> AnonymousSubjectAsync()
    {
        var cookie = Assert.Single(await _context.CookiesAsync(), c => c.Name == Shopper.AnonymousCookie);
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Lax, cookie.SameSite);
        Assert.False(await _page.EvaluateAsync<bool>("() => document.cookie.includes('sa_anon')"));
        return Uri.UnescapeDataString(cookie.Value);
    }

    private async Task ScreenshotAsync(string name)
    {
        var path = Path.Combine(DashboardServerFixture.RepositoryRoot(), "artifacts", "screenshots", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await _page.ScreenshotAsync(new PageScreenshotOptions { Path = path, Animations = ScreenshotAnimations.Disabled });
        output.WriteLine($"screenshot: {path}");
    }
}

/// <summary>The edge API (in-memory, store s1's policy published), the sample storefront on a loopback port, and one Chromium.</summary>
public sealed class BannerServerFixture : IAsyncLifetime
{
    private IPlaywright _playwright = null!;

    public StorefrontEdgeFixture Edge { get; } = new();

    public StorefrontFactory Storefront { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await Edge.InitializeAsync();
        Storefront = new StorefrontFactory(Edge.Edge);
        Storefront.UseKestrel(0);
        Storefront.StartServer();
        BaseAddress = Storefront.ClientOptions.BaseAddress;
        Assert.True(BaseAddress.IsLoopback, $"The storefront listens on {BaseAddress}, not on loopback.");

        Assert.True(File.Exists(DashboardServerFixture.ChromiumPath), $"{DashboardServerFixture.ChromiumPath} is missing: apt-get install chromium.");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = DashboardServerFixture.ChromiumPath,
            Headless = true,
            Args =
            [
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
            ],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        if (Storefront is not null)
        {
            await Storefront.DisposeAsync();
        }

        await Edge.DisposeAsync();
    }
}
