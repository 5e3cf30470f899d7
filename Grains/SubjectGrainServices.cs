using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;
using ShopAstro.Coherence;
using ShopAstro.Grains.Downstream;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Stats;

namespace ShopAstro.Grains;

/// <summary>
/// What every subject grain uses from the silo, held once: a grain keeps one reference to this instead of one per
/// service (subject grains are the cluster's per-grain memory budget).
/// </summary>
internal sealed class SubjectGrainServices(
    TimeProvider time,
    IOptions<ConsentClusterOptions> options,
    SubjectAnonymiser anonymiser,
    StoreStatsCollector stats,
    LeaseGrantSettings leaseGrants,
    OutboxStaging outbox,
    [FromKeyedServices(StorageNames.Consent)] IGrainStorage storage,
    ILogger<SubjectGrain> logger,
    MembershipFence? fence = null)
{
    public TimeProvider Time { get; } = time;

    public ConsentClusterOptions Options { get; } = options.Value;

    public SubjectAnonymiser Anonymiser { get; } = anonymiser;

    public StoreStatsCollector Stats { get; } = stats;

    /// <summary>What every subject's <see cref="LeaseGrants"/> shares.</summary>
    public LeaseGrantSettings LeaseGrants { get; } = leaseGrants;

    public OutboxStaging Outbox { get; } = outbox;

    public IGrainStorage Storage { get; } = storage;

    public ILogger Logger { get; } = logger;

    /// <summary>This silo's membership fence, where silos can be declared dead and replaced (a cluster); null on one silo.</summary>
    public MembershipFence? Fence { get; } = fence;
}

public static class SubjectGrainServiceRegistration
{
    /// <summary>
    /// The services subject grains share (see <see cref="SubjectGrainServices"/>), and the lease-grant settings that
    /// subject and store grains share.
    /// </summary>
    public static IServiceCollection AddSubjectGrainServices(this IServiceCollection services) =>
        services
            .AddSingleton(provider => new LeaseGrantSettings(
                provider.GetRequiredService<TimeProvider>(),
                provider.GetRequiredService<IOptions<ConsentClusterOptions>>().Value.DecisionLeaseRevokeTimeout,
                provider.GetRequiredService<RegisteredHolders>(),
                provider.GetRequiredService<UnresponsiveHolders>(),
                provider.GetRequiredService<HolderExpulsions>()))
            .AddSingleton<SubjectGrainServices>();
}
