using System.Text.Json.Nodes;
using Microsoft.Playwright;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Browser;

/// <summary>
/// The dashboard's opt-in rate history in Chromium: snapshots stored by one run of the service are drawn by the
/// chart of the next run, over the same SQLite file, and the chart takes new snapshots as they are stored.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class HistoryChartBrowserTests(ITestOutputHelper output)
{
    private const string Store = "s1";

    [Fact]
    public async Task The_chart_draws_the_snapshots_stored_before_a_restart_and_the_new_ones()
    {
        await using var database = TestDatabase.Sqlite();
        var fast = new Dictionary<string, string?> { ["StatsHistory:Interval"] = "00:00:01" };

        // First run: grants and withdrawals, so the opt-in rates move between snapshots.
        JsonArray stored;
        await using (var first = new EdgeApiFactory(database.ConnectionString, fast))
        {
            _ = first.Server;
            await SeedEarlierDayAsync(database);
            using var seller = first.ClientWith(EdgeApiFactory.SellerS1Token);
            await (await seller.PublishPolicyAsync(Store, 1)).ShouldBeOkAsync();
            foreach (var (subject, purpose, granted) in new[]
            {
                ("u1", "analytics", true), ("u2", "analytics", true), ("u3", "recommendation", true),
                ("u4", "analytics", false), ("u5", "recommendation", false), ("u6", "recommendation", false),
            })
            {
                await (await seller.SetConsentAsync(Store, subject, purpose, granted)).ShouldBeOkAsync();
                await Task.Delay(700);
            }

            stored = await WaitForSnapshotsAsync(seller, atLeast: 3);
        }

        output.WriteLine($"{stored.Count} snapshots stored before the restart: {stored.ToJsonString()}");

        // Second run over the same file, on a real port for the browser.
        await using var second = new EdgeApiFactory(database.ConnectionString, fast);
        second.UseKestrel(0);
        second.StartServer();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await DashboardServerFixture.LaunchChromiumAsync(playwright);
        await using var context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = second.ClientOptions.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = 1280, Height = 1000 },
            Locale = "en-GB",
            TimezoneId = "UTC",
        });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type is "error" or "warning")
            {
                errors.Add($"console {message.Type}: {message.Text}");
            }
        };
        page.PageError += (_, error) => errors.Add($"page error: {error}");

        await page.GotoAsync($"/dashboard/{Store}#token={EdgeApiFactory.SellerS1Token}");
        var chart = page.GetByTestId("history-chart");
        await Assertions.Expect(chart).ToHaveAttributeAsync("data-drawn", "true", new() { Timeout = 20_000 });
        await Assertions.Expect(page.GetByTestId("connection")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 20_000 });

        // Every snapshot stored before the restart is a point of the chart (x: its time in ms), for each purpose chosen.
        var drawn = await DrawnAsync(page);
        foreach (var (label, purpose) in new[] { ("Analytics", "analytics"), ("Recommendations", "recommendation") })
        {
            var xs = drawn[label]!.AsArray().Select(p => p!["x"]!.GetValue<long>()).ToHashSet();
            var expected = stored.Where(s => s!["purposes"]![purpose]?["optInRate"] is not null)
                .Select(s => DateTimeOffset.Parse(s!["at"]!.GetValue<string>()).ToUnixTimeMilliseconds()).ToList();
            Assert.NotEmpty(expected);
            var missing = expected.Where(x => !xs.Contains(x)).ToList();
            Assert.True(missing.Count == 0, $"{label}: stored snapshots not on the chart: {string.Join(", ", missing)}");
        }

        // The last stored rates: analytics 2 of 3, recommendations 1 of 3.
        Assert.Equal(66.7, drawn["Analytics"]!.AsArray()[^1]!["y"]!.GetValue<double>());
        Assert.Equal(33.3, drawn["Recommendations"]!.AsArray()[^1]!["y"]!.GetValue<double>());
        // Pixels, not only data: the canvas is not blank.
        Assert.True(await page.EvaluateAsync<bool>("""
            () => { const c = document.getElementById('history-canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) return true; } return false; }
            """));

        // A change after the restart: its snapshot reaches the chart without a reload.
        using var admin = second.ClientWith(EdgeApiFactory.SellerS1Token);
        await (await admin.SetConsentAsync(Store, "u7", "analytics", true)).ShouldBeOkAsync();
        await Assertions.Expect(page.Locator("#history-summary")).ToContainTextAsync("snapshots", new() { Timeout = 5_000 });
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await DrawnAsync(page))["Analytics"]!.AsArray()[^1]!["y"]!.GetValue<double>() != 75.0)
        {
            Assert.True(DateTime.UtcNow < deadline, "The 3-of-4 analytics rate stored after the restart never reached the chart.");
            await Task.Delay(500);
        }

        // The screenshot shows the chart: the canvas is visible, with a size, on the page it is taken of.
        await Assertions.Expect(page.Locator("#history-canvas")).ToBeVisibleAsync();
        var box = await page.Locator("#history-canvas").BoundingBoxAsync();
        Assert.True(box is { Width: > 200, Height: > 100 }, $"The chart's canvas is {box?.Width} x {box?.Height}.");
        var screenshot = Path.Combine(DashboardServerFixture.RepositoryRoot(), "artifacts", "screenshots", "dashboard-history.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true, Animations = ScreenshotAnimations.Disabled });
        output.WriteLine($"screenshot: {screenshot}");
        Assert.True(errors.Count == 0, string.Join(Environment.NewLine, errors));
    }

    /// <summary>
    /// Hourly snapshots over the 23 hours before now, as the store grain would have stored them before this test's
    /// writes (no events yet, only the choices standing then), so the chart and its screenshot show a day.
    /// </summary>
    private static async Task SeedEarlierDayAsync(TestDatabase database)
    {
        var history = new ShopAstro.Silo.Storage.ConsentStatsHistoryStore(ShopAstro.Silo.Storage.ConsentStore.Parse(database.ConnectionString));
        var now = DateTimeOffset.UtcNow;
        for (var hour = 23; hour >= 1; hour--)
        {
            await history.AppendAsync(Store, now.AddHours(-hour), new Dictionary<ShopAstro.Grains.Interfaces.Purpose, ShopAstro.Grains.Interfaces.PurposeStats>
            {
                [ShopAstro.Grains.Interfaces.Purpose.Analytics] = new(0, 0, 0, 0, 40 + (hour % 5), 40 - (hour % 7)),
                [ShopAstro.Grains.Interfaces.Purpose.Recommendation] = new(0, 0, 0, 0, 20 + hour, 30),
            }, CancellationToken.None);
        }
    }

    /// <summary>The chart's datasets as Chart.js holds them: label -> [{x, y}].</summary>
    private static async Task<JsonObject> DrawnAsync(IPage page) =>
        JsonNode.Parse(await page.EvaluateAsync<string>("""
            () => JSON.stringify(Object.fromEntries(
                Chart.getChart(document.getElementById('history-canvas')).data.datasets.map(d => [d.label, d.data])))
            """))!.AsObject();

    private static async Task<JsonArray> WaitForSnapshotsAsync(HttpClient seller, int atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var response = await seller.GetAsync($"/v1/stores/{Store}/stats/history");
            await response.ShouldBeOkAsync();
            var snapshots = (await response.ReadJsonAsync())["snapshots"]!.AsArray();
            var last = snapshots.LastOrDefault()?["purposes"];
            if (snapshots.Count >= atLeast && last?["recommendation"]?["withdrawn"]?.GetValue<long>() == 2)
            {
                return snapshots;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Fewer than {atLeast} snapshots, or not the last choices: {snapshots.ToJsonString()}");
            await Task.Delay(250);
        }
    }
}
