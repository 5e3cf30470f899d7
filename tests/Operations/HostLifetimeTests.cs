using System.Diagnostics.Tracing;
using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Orleans.Runtime;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Operations;

/// <summary>
/// A stopped edge leaves nothing behind that keeps it reachable: no timer, thread or static registration of its own.
/// One process runs the test suite's hundreds of edges one after another (and an operator may host it beside other
/// apps); when each stayed reachable, the suite's test host grew past 20 GB and was killed.
/// </summary>
public sealed class HostLifetimeTests
{
    [Fact]
    public async Task A_disposed_edge_that_answered_through_every_middleware_can_be_collected()
    {
        StartProcessWideTimersWithoutContext();
        var services = await StartUseAndDisposeAsync();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (services.IsAlive)
        {
            Assert.True(DateTime.UtcNow < deadline,
                "The disposed edge's service provider is still reachable 20 s after disposal (a timer, thread or static holds it).");
            await Task.Delay(250);
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
    }

    /// <summary>
    /// Some things live as long as the process, once per process, and keep the execution context of the app that first
    /// needed them: the runtime's thread that polls event counters (Orleans' statistics listener turns them on), the
    /// timer of Orleans' interner of silo addresses, that of Microsoft.Data.Sqlite's connection pools and OpenTelemetry's
    /// watch for its self-diagnostics file. One app per process is theirs by design, and no leak of the edge's. Started
    /// here first, with no context to keep.
    /// </summary>
    private static void StartProcessWideTimersWithoutContext()
    {
        using (ExecutionContext.SuppressFlow())
        {
            using var listener = new RuntimeCounters();
            _ = SiloAddress.New(IPAddress.Loopback, 1, 1);
            using var connection = new SqliteConnection("Data Source=:memory:");
            connection.Open();
            using var meters = Sdk.CreateMeterProviderBuilder().Build();
        }
    }

    private sealed class RuntimeCounters : EventListener
    {
        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "System.Runtime")
            {
                EnableEvents(eventSource, EventLevel.LogAlways, EventKeywords.All, new Dictionary<string, string?> { ["EventCounterIntervalSec"] = "1" });
            }
        }
    }

    /// <summary>
    /// Async and not inlined, so that nothing of the edge's (its locals, or the execution context its start-up
    /// changed) is left on the test's own stack or flow.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> StartUseAndDisposeAsync()
    {
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString);
        var admin = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await admin.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
        // The check's fast path, and the routed pipeline (rate limits, authorization) behind it.
        Assert.Equal((true, "granted"), await factory.ClientWith(EdgeApiFactory.StorefrontS1Token).DecideAsync("s1", "u1", "analytics"));
        await (await admin.GetAsync("/v1/stores/s1/policy")).ShouldBeOkAsync();
        return new WeakReference(factory.Services);
    }
}
