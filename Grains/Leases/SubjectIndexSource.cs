namespace ShopAstro.Grains.Leases;

/// <summary>The subjects of a store that have a stored record, read from the consent store (a store grain's index at activation).</summary>
public interface ISubjectIndexSource
{
    Task<IReadOnlyList<string>> SubjectsWithRecordsAsync(string storeId, CancellationToken cancellationToken);
}
