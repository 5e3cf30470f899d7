using Orleans.Concurrency;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>The stored records of a store's subjects, read straight from the consent store (no grain is activated).</summary>
public interface ISubjectRecordSource
{
    IAsyncEnumerable<SubjectRecord> RecordsAsync(string storeId, CancellationToken cancellationToken);
}

/// <summary>
/// Evaluates a draft policy version against every stored record of a store in one pass over the consent store,
/// on the silo that receives the call (a stateless worker), beside the store grain rather than in it: the store
/// goes on handing out leases and taking publishes while the read runs.
/// </summary>
[StatelessWorker]
internal sealed class PolicyImpactGrain(ISubjectRecordSource records, TimeProvider time) : Grain, IPolicyImpactGrain
{
    public async Task<PolicyImpact> Measure(StorePolicy? current, StorePolicy draft)
    {
        var started = time.GetTimestamp();
        var counter = new PolicyImpactCounter(current, draft);
        await foreach (var record in records.RecordsAsync(this.GetPrimaryKeyString(), CancellationToken.None))
        {
            counter.Add(record);
        }

        return counter.Result(time.GetElapsedTime(started));
    }
}
