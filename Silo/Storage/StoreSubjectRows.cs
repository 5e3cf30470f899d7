using System.Data.Common;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// The rows of one store's subjects in the state table (the subject grains' state name is <c>subject</c>, their key
/// <c>{storeId}/{subjectId}</c>): a scan of the table, for the store's subject index and for impact previews.
/// </summary>
internal static class StoreSubjectRows
{
    public static string KeyPrefix(string storeId) => storeId + "/";

    /// <summary>A command selecting <paramref name="column"/> of every row of the store's subjects that has one.</summary>
    public static DbCommand Select(DbConnection connection, string storeId, string column)
    {
        var prefix = KeyPrefix(storeId);
        var command = connection.CreateCommand();
        // substr, not LIKE: store ids may contain '_', a LIKE wildcard.
        command.CommandText = $"""
            SELECT {column} FROM ConsentGrainState
            WHERE ServiceId = @ServiceId AND GrainTypeString = 'subject' AND substr(GrainIdExtensionString, 1, @Length) = @Prefix
              AND {column} IS NOT NULL
            """;
        command.AddParameter("ServiceId", ClusterSettings.ServiceId);
        command.AddParameter("Length", prefix.Length);
        command.AddParameter("Prefix", prefix);
        return command;
    }
}
