using System.Data.Common;

namespace ShopAstro.Silo.Storage;

internal static class DbCommandExtensions
{
    /// <summary>A named parameter; null is SQL NULL.</summary>
    public static void AddParameter(this DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }
}
