using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Trace;
using ShopAstro.EdgeApi;
using ShopAstro.EdgeApi.Endpoints;
using ShopAstro.EdgeApi.Telemetry;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Operations;

/// <summary>Metrics on /metrics, traces across the edge and the grain call, the admin-only Orleans dashboard.</summary>
[Collection(TelemetryCollection.Name)]
public sealed class TelemetryTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    [Fact]
    public async Task Metrics_show_checks_decision_latency_writes_and_orleans_series_without_store_or_subject_labels()
    {
        var admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);
        var store = "metrics-" + Guid.NewGuid().ToString("N")[..8];
        await (await admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync(store, "metric-subject", "analytics", true)).ShouldBeOkAsync();
        await admin.DecideAsync(store, "metric-subject", "analytics");
        await admin.DecideAsync(store, "metric-subject", "advertising");

        var text = "";
        for (var attempt = 0; attempt < 20 && !text.Contains("shopastro_checks", StringComparison.Ordinal); attempt++)
        {
            await Task.Delay(250);
            var response = await fixture.Factory.ClientWith(null).GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            text = await response.Content.ReadAsStringAsync();
        }

        Assert.Matches(@"shopastro_checks_total\{[^}]*outcome=""allowed""[^}]*purpose=""analytics""[^}]*reason=""granted""", text);
        Assert.Matches(@"shopastro_checks_total\{[^}]*outcome=""denied""[^}]*purpose=""advertising""[^}]*reason=""purpose_disabled""", text);
        Assert.Contains("shopastro_decision_duration_seconds_bucket", text, StringComparison.Ordinal);
        Assert.Matches(@"shopastro_consent_writes_total\{[^}]*outcome=""recorded""[^}]*source=""banner""", text);
        Assert.Contains("orleans_", text, StringComparison.Ordinal);
        Assert.DoesNotContain(store, text, StringComparison.Ordinal);
        Assert.DoesNotContain("metric-subject", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_take_aspnet_cores_meters_but_for_kestrels_memory_pool()
    {
        // A probe instrument on each meter of ASP.NET Core's names, from this host's meter factory: /metrics shows a
        // probe's series exactly when this host's metrics provider collects that meter (a meter is taken by its name).
        // Whether an instrument is enabled at all would not tell: any listener in the test process enables it.
        var meters = fixture.Factory.Services.GetRequiredService<IMeterFactory>();
        var probes = new Dictionary<string, string>();
        foreach (var meter in TelemetryExtensions.AspNetCoreMeters.Append("Microsoft.AspNetCore.MemoryPool"))
        {
            var name = "shopastro_probe_" + Guid.NewGuid().ToString("N");
            meters.Create(meter).CreateCounter<long>(name.Replace('_', '.')).Add(1);
            probes[meter] = name;
        }

        var text = "";
        for (var attempt = 0; attempt < 20 && !text.Contains(probes["Microsoft.AspNetCore.Hosting"], StringComparison.Ordinal); attempt++)
        {
            await Task.Delay(250);
            text = await (await fixture.Factory.ClientWith(null).GetAsync("/metrics")).Content.ReadAsStringAsync();
        }

        Assert.All(TelemetryExtensions.AspNetCoreMeters, meter => Assert.Contains(probes[meter], text, StringComparison.Ordinal));
        Assert.Contains("Microsoft.AspNetCore.Server.Kestrel", TelemetryExtensions.AspNetCoreMeters);
        Assert.DoesNotContain(probes["Microsoft.AspNetCore.MemoryPool"], text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_single_check_is_timed_as_a_decision_and_left_out_of_the_http_request_duration()
    {
        // Measurements of this host's instruments only (other test hosts in the process have meters of the same names).
        var meters = fixture.Factory.Services.GetRequiredService<IMeterFactory>();
        var edgeMeter = fixture.Factory.Services.GetRequiredService<EdgeMetrics>().Meter;
        var routes = new ConcurrentQueue<string>();
        var decisionKinds = new ConcurrentQueue<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if ((instrument.Meter.Scope == meters && instrument.Name == "http.server.request.duration")
                || (instrument.Meter == edgeMeter && instrument.Name == "shopastro.decision.duration"))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key is "http.route" or "kind")
                {
                    (instrument.Meter == edgeMeter ? decisionKinds : routes).Enqueue(tag.Value as string ?? "");
                }
            }
        });
        listener.Start();

        var admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);
        var store = "duration-" + Guid.NewGuid().ToString("N")[..8];
        await (await admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        // One check answered ahead of the general pipeline (CheckFastPath), one by the endpoint (an explanation).
        await admin.DecideAsync(store, "timed", "analytics");
        (await admin.GetAsync($"/v1/stores/{store}/subjects/timed/decisions?purpose=analytics&explain=true")).EnsureSuccessStatusCode();
        await (await admin.SetConsentAsync(store, "timed", "analytics", true)).ShouldBeOkAsync();

        // Hosting records a request's duration as it ends, which may be after its client has the response.
        const string writeRoute = "/v1/stores/{storeId}/subjects/{subjectId}/consents";
        for (var attempt = 0; attempt < 40 && !routes.Contains(writeRoute); attempt++)
        {
            await Task.Delay(50);
        }

        Assert.Contains(writeRoute, routes);
        Assert.DoesNotContain("/v1/stores/{storeId}/subjects/{subjectId}/decisions", routes);
        Assert.Contains("check", decisionKinds);
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("false", true)]
    [InlineData("true", false)]
    public async Task Telemetry_CheckRequestDuration_puts_the_check_back_into_the_http_request_duration(string? setting, bool left)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["ConnectionStrings:Consent"] = "Data Source=" + Path.Combine(Path.GetTempPath(), "unused-" + Guid.NewGuid().ToString("N"), "consent.db");
        builder.Configuration[TelemetryExtensions.CheckRequestDurationKey] = setting;
        builder.AddEdgeApi();
        await using var app = builder.Build();
        app.MapEdgeApi();

        // Built, never started: the endpoints as the edge maps them, both paths (CheckFastPath gives a check this endpoint).
        var check = ((IEndpointRouteBuilder)app).DataSources.SelectMany(source => source.Endpoints)
            .Single(endpoint => endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == DecisionEndpoints.CheckName);
        Assert.Equal(left, check.Metadata.GetMetadata<IDisableHttpMetricsMetadata>() is not null);
    }

    [Fact]
    public async Task A_trace_spans_the_http_request_and_the_grain_call()
    {
        // Spans end on many threads at once: collected into a concurrent queue (the in-memory exporter's list is not
        // safe to read while requests of other tests end spans in the same host).
        var exported = new ConcurrentQueue<Activity>();
        await using var traced = fixture.Factory.WithWebHostBuilder(builder => builder
            .UseSetting("Telemetry:Tracing", "true")
            .ConfigureTestServices(services =>
                services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(new CollectingProcessor(exported)))));
        var admin = traced.CreateClient();
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", EdgeApiFactory.AdminToken);
        var store = "trace-" + Guid.NewGuid().ToString("N")[..8];

        await admin.DecideAsync(store, "traced", "analytics");

        Activity? http = null;
        Activity? grain = null;
        for (var attempt = 0; attempt < 40 && grain is null; attempt++)
        {
            await Task.Delay(100);
            var spans = exported.ToArray();
            // This request's span, by its store: the listener sees the spans of every host in the test process.
            http = spans.LastOrDefault(a => a.Source.Name == "Microsoft.AspNetCore" && a.DisplayName.Contains("decisions", StringComparison.Ordinal)
                && a.TagObjects.Any(tag => tag.Value?.ToString()?.Contains(store, StringComparison.Ordinal) == true));
            grain = http is null ? null : spans.FirstOrDefault(a =>
                a.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal) && a.TraceId == http.TraceId
                && a.DisplayName.Contains("ISubjectGrain", StringComparison.Ordinal));
        }

        Assert.NotNull(http);
        Assert.True(grain is not null, "no Orleans span of the subject grain call in the HTTP request's trace: " +
            string.Join(", ", exported.ToArray().Select(a => $"{a.Source.Name}:{a.DisplayName}")));
    }

    private sealed class CollectingProcessor(ConcurrentQueue<Activity> spans) : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data) => spans.Enqueue(data);
    }

    [Fact]
    public async Task The_orleans_dashboard_is_for_admins_only()
    {
        await (await fixture.Factory.ClientWith(null).GetAsync("/orleans/")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await (await fixture.Factory.ClientWith(EdgeApiFactory.SellerS1Token).GetAsync("/orleans/")).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        var admin = await fixture.Factory.ClientWith(EdgeApiFactory.AdminToken).GetAsync("/orleans/");
        Assert.Equal(HttpStatusCode.OK, admin.StatusCode);

        // A browser signs in once with the login form; the cookie carries the token afterwards (never the URL).
        var browser = fixture.Factory.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { HandleCookies = true });
        await (await browser.GetAsync($"/orleans/?access_token={EdgeApiFactory.AdminToken}")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, (await browser.PostAsync("/orleans/login",
            new FormUrlEncodedContent([new KeyValuePair<string, string>("token", EdgeApiFactory.AdminToken)]))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/orleans/")).StatusCode);
        await (await browser.GetAsync($"/v1/stores/s1/policy")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
    }
}

/// <summary>
/// Alone: OpenTelemetry picks meters by name, so one host's provider also collects every other edge host's meter of the
/// same name in this process, and a host disposed meanwhile ends that shared stream (its series vanish from the others'
/// /metrics). One edge per process, as deployed, has no such neighbour.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "Telemetry";
}
