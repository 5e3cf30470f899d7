using Orleans.Concurrency;

namespace ShopAstro.Grains.Interfaces;

/// <summary>One store: its versioned policy, and the leases through which subjects hold it.</summary>
[Alias("shopastro.IStoreGrain")]
public interface IStoreGrain : IGrainWithStringKey
{
    /// <summary>Publishes a new version; completes only after every lease holder has the new policy or its lease has run out.</summary>
    [Alias("PublishPolicy")]
    Task<PolicyPublishResult> PublishPolicy(PolicyUpdate update);

    [Alias("GetPolicy"), ReadOnly]
    Task<StorePolicy?> GetPolicy();

    /// <summary>Interleaves so that subjects activating during a publish never wait on it.</summary>
    [Alias("AcquirePolicyLease"), AlwaysInterleave]
    Task<PolicyLease> AcquirePolicyLease(string subjectId);

    [Alias("ReleasePolicyLease"), AlwaysInterleave, OneWay]
    Task ReleasePolicyLease(string subjectId);
}

/// <summary>One shopper at one store (key: <see cref="SubjectKey"/>).</summary>
[Alias("shopastro.ISubjectGrain")]
public interface ISubjectGrain : IGrainWithStringKey
{
    /// <summary>Answers from memory; never touches storage.</summary>
    [Alias("Decide"), ReadOnly]
    ValueTask<DecisionSet> Decide(Purpose[] purposes, RequestSignals signals);

    /// <summary>Completes only after the change is durable.</summary>
    [Alias("SetConsents")]
    Task<ConsentWriteResult> SetConsents(ConsentUpdate update);

    /// <summary>The record, or null for a subject never written.</summary>
    [Alias("GetRecord"), ReadOnly]
    Task<SubjectRecord?> GetRecord();

    /// <summary>Pushed by the store grain; completes once later checks see <paramref name="policy"/>.</summary>
    [Alias("OnPolicyChanged")]
    Task OnPolicyChanged(StorePolicy policy);
}

/// <summary>Readiness of the cluster and its storage, for <c>/health/ready</c>.</summary>
[Alias("shopastro.IClusterHealthGrain")]
public interface IClusterHealthGrain : IGrainWithIntegerKey
{
    [Alias("CheckStorage")]
    Task CheckStorage();
}
