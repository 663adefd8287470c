"""``salve import-schools`` and ``salve import-students``: what the ministry's staff see."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.extensions import db
from salve.schools.importing import validate_students
from salve.schools.models import School, Student
from tests.conftest import count

SCHOOLS_HEADER = "codigo,nombre,sector,zona,departamento,municipio,distrito,matricula_f,matricula_m"
STUDENTS_HEADER = "nie,codigo_escuela,nombres,apellidos,sexo,fecha_nacimiento,grado,seccion"
GOOD_SCHOOLS = (
    "20001,Centro Escolar Prueba Uno,Público,urbana,6,san salvador centro,MEJICANOS,120,110\n"
    "20002,Complejo Educativo Prueba Dos,privado,Rural,La Libertad,La Libertad Este,huizucar,"
    "40,35\n"
)


def write(temp_dir, text: str | bytes, name: str = "datos.csv", encoding: str = "utf-8"):
    """Write ``text`` to a file in ``temp_dir`` and return its path."""
    path = temp_dir / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def import_file(runner, kind: str, path, *flags: str):
    """Run ``salve import-<kind>`` on ``path``."""
    return runner.invoke(args=["salve", f"import-{kind}", str(path), *flags])


def school(code: str) -> School | None:
    return db.session.scalar(sa.select(School).where(School.code == code))


def student(nie: str) -> Student | None:
    return db.session.scalar(sa.select(Student).where(Student.nie == nie))


# --- Schools ---------------------------------------------------------------------------------


def test_schools_import_then_reimport_updates(runner, temp_dir):
    before = count(School)
    path = write(temp_dir, SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS)
    result = import_file(runner, "schools", path)
    assert result.exit_code == 0, result.output
    assert "2 registros nuevos, 0 actualizados, 0 sin cambios" in result.output
    assert count(School) == before + 2
    first = school("20001")
    assert (first.name, first.sector, first.zone) == (
        "Centro Escolar Prueba Uno",
        "publico",
        "urbana",
    )
    assert first.district.name == "Mejicanos"
    assert first.department.code == "06"
    assert (first.enrolment_female, first.enrolment_male) == (120, 110)
    second = school("20002")
    assert (second.sector, second.zone, second.district.name) == ("privado", "rural", "Huizúcar")

    changed = GOOD_SCHOOLS.replace("120,110", "125,111")
    result = import_file(runner, "schools", write(temp_dir, SCHOOLS_HEADER + "\n" + changed))
    assert result.exit_code == 0, result.output
    assert "0 registros nuevos, 1 actualizados, 1 sin cambios" in result.output
    assert count(School) == before + 2
    db.session.expire_all()
    assert school("20001").enrolment_female == 125


def test_latin1_semicolon_file_with_bom_less_header(runner, temp_dir):
    text = (
        SCHOOLS_HEADER.replace(",", ";") + "\r\n"
        "20003;Centro Escolar Cantón El Jícaro;público;rural;Ahuachapán;AHUACHAPAN SUR;"
        "San Francisco Menéndez;30;28\r\n"
    )
    path = write(temp_dir, text, encoding="cp1252")
    result = import_file(runner, "schools", path)
    assert result.exit_code == 0, result.output
    imported = school("20003")
    assert imported.name == "Centro Escolar Cantón El Jícaro"
    assert imported.district.name == "San Francisco Menéndez"
    assert imported.department.code == "01"


def test_utf8_bom_is_accepted(runner, temp_dir):
    path = write(temp_dir, "\ufeff" + SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS)
    result = import_file(runner, "schools", path)
    assert result.exit_code == 0, result.output
    assert school("20002") is not None


BAD_SCHOOL_FILES = {
    "garbage": (b"PK\x03\x04\x14\x00\x81\x8d\x00\xff binary", "no es un CSV de texto"),
    "empty": (b"", "el archivo está vacío"),
    "header only": (SCHOOLS_HEADER + "\n", "no tiene filas de datos"),
    "missing column": (
        SCHOOLS_HEADER.replace(",distrito", "") + "\n20001,A,publico,urbana,06,X,1,1\n",
        "faltan columnas: distrito",
    ),
    "extra column": (
        SCHOOLS_HEADER + ",director\n" + GOOD_SCHOOLS.replace("\n", ",Fulano\n"),
        "columnas no esperadas: director",
    ),
    "duplicate code": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS + GOOD_SCHOOLS.splitlines()[0] + "\n",
        "línea 4, columna codigo: código «20001» repetido: ya aparece en la línea 2",
    ),
    "unknown district": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("MEJICANOS", "Narnia"),
        "línea 2, columna distrito: distrito desconocido «Narnia»",
    ),
    "district of another department": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("MEJICANOS", "Metapán"),
        "línea 2, columna distrito: el distrito «Metapán» no pertenece al departamento San"
        " Salvador",
    ),
    "district of another municipality": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("MEJICANOS", "Soyapango"),
        "línea 2, columna distrito: el distrito «Soyapango» pertenece al municipio"
        " «San Salvador Este», no a «san salvador centro»",
    ),
    "municipality of another department": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("La Libertad Este", "Santa Ana Norte"),
        "línea 3, columna municipio: el municipio «Santa Ana Norte» no pertenece al"
        " departamento La Libertad",
    ),
    "unknown department": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace(",6,", ",15,"),
        "línea 2, columna departamento: departamento desconocido «15»",
    ),
    "short code": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("20002", "2002"),
        "línea 3, columna codigo: el código debe tener 5 dígitos, no «2002»",
    ),
    "bad sector": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("privado", "mixto"),
        "línea 3, columna sector: debe ser «público» o «privado», no «mixto»",
    ),
    "negative enrolment": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("40,35", "-40,35"),
        "línea 3, columna matricula_f: debe ser un número entero no negativo, no «-40»",
    ),
    "empty name": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("Centro Escolar Prueba Uno", ""),
        "línea 2, columna nombre: falta el valor",
    ),
    "too many fields": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("40,35", "40,35,9"),
        "línea 3: tiene 10 campos y la cabecera 9",
    ),
    "too many fields on the first data row": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("120,110", "120,110,9"),
        "línea 2: tiene 10 campos y la cabecera 9",
    ),
    "CR and LF inside a school name": (
        SCHOOLS_HEADER
        + "\n"
        + GOOD_SCHOOLS.replace("Centro Escolar Prueba Uno", '"Centro\r\nUno"'),
        "línea 2, columna nombre: tiene un carácter invisible o de control, U+000D",
    ),
    "right-to-left override in a school name": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("Prueba Dos", "Prueba \u202eDos"),
        "línea 3, columna nombre: tiene un carácter invisible o de control, U+202E"
        " (RIGHT-TO-LEFT OVERRIDE)",
    ),
    "zero-width space in a district": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("MEJICANOS", "MEJI\u200bCANOS"),
        "línea 2, columna distrito: tiene un carácter invisible o de control, U+200B",
    ),
    "full-width school code": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("20002", "２０００２"),
        "línea 3, columna codigo: el código debe tener 5 dígitos, no «２０００２»",
    ),
    "Arabic-Indic enrolment": (
        SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("40,35", "٤٠,35"),
        "línea 3, columna matricula_f: debe ser un número entero no negativo, no «٤٠»",
    ),
}


@pytest.mark.parametrize("case", BAD_SCHOOL_FILES, ids=list(BAD_SCHOOL_FILES))
def test_bad_school_file_is_refused_whole(runner, temp_dir, case):
    content, message = BAD_SCHOOL_FILES[case]
    before = count(School)
    result = import_file(runner, "schools", write(temp_dir, content))
    assert result.exit_code != 0
    assert message in result.output
    assert "Archivo rechazado: no se importó nada" in result.output
    assert count(School) == before
    assert school("20001") is None


def test_blank_lines_do_not_shift_line_numbers(runner, temp_dir):
    lines = GOOD_SCHOOLS.splitlines()
    text = f"{SCHOOLS_HEADER}\n{lines[0]}\n\n{lines[1].replace('huizucar', 'Atlántida')}\n"
    result = import_file(runner, "schools", write(temp_dir, text))
    assert "línea 4, columna distrito: distrito desconocido «Atlántida»" in result.output


def test_skip_invalid_imports_the_good_schools(runner, temp_dir):
    text = SCHOOLS_HEADER + "\n" + GOOD_SCHOOLS.replace("huizucar", "Narnia")
    result = import_file(runner, "schools", write(temp_dir, text), "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "línea 3, columna distrito: distrito desconocido «Narnia»" in result.output
    assert "1 registros nuevos" in result.output
    assert "1 filas omitidas por errores" in result.output
    assert school("20001") is not None
    assert school("20002") is None


def test_skip_invalid_does_not_rescue_a_file_without_its_columns(runner, temp_dir):
    text = SCHOOLS_HEADER.replace("zona", "area") + "\n" + GOOD_SCHOOLS
    result = import_file(runner, "schools", write(temp_dir, text), "--skip-invalid")
    assert result.exit_code != 0
    assert "faltan columnas: zona" in result.output
    assert "columnas no esperadas: area" in result.output
    assert school("20001") is None


def test_only_the_first_fifty_problems_are_listed(runner, temp_dir):
    rows = "".join(f"{30000 + n},Escuela {n},publico,urbana,06,X,Y,1,1\n" for n in range(30))
    result = import_file(runner, "schools", write(temp_dir, SCHOOLS_HEADER + "\n" + rows))
    assert result.exit_code != 0
    assert result.output.count("columna municipio: municipio desconocido «X»") == 30
    # 30 unknown municipalities; 30 districts not checked under an unknown municipality.
    rows = "".join(f"{30000 + n},Escuela {n},publico,urbana,99,X,Y,1,-1\n" for n in range(30))
    result = import_file(runner, "schools", write(temp_dir, SCHOOLS_HEADER + "\n" + rows))
    assert result.output.count("línea ") == 50
    assert "… y 10 errores más." in result.output


# --- Students --------------------------------------------------------------------------------


def students_file(world, rows: list[str]) -> str:
    return (
        STUDENTS_HEADER + "\n" + "".join(row.format(school=world.school_a) + "\n" for row in rows)
    )


GOOD_STUDENTS = [
    "70000001,{school},Ana María,Pérez López,F,2014-03-09,6,A",
    "70000002,{school},José Luis,Martínez Rivas,m,09/03/2013,7,B",
    "70000003,{school},Sofía,Hernández Cruz,F,1/2/2016,4,A",
]


def test_students_import_then_reimport_updates(runner, temp_dir, world):
    before = count(Student)
    result = import_file(runner, "students", write(temp_dir, students_file(world, GOOD_STUDENTS)))
    assert result.exit_code == 0, result.output
    assert "3 registros nuevos, 0 actualizados, 0 sin cambios" in result.output
    assert count(Student) == before + 3
    jose = student("70000002")
    assert (jose.given_names, jose.family_names, jose.sex) == ("José Luis", "Martínez Rivas", "M")
    assert jose.birth_date == date(2013, 3, 9)
    assert (jose.grade, jose.section, jose.school.code) == ("7", "B", world.school_a)
    assert student("70000003").birth_date == date(2016, 2, 1)

    moved = [row.replace(",7,B", ",8,A") for row in GOOD_STUDENTS]
    result = import_file(runner, "students", write(temp_dir, students_file(world, moved)))
    assert result.exit_code == 0, result.output
    assert "0 registros nuevos, 1 actualizados, 2 sin cambios" in result.output
    assert count(Student) == before + 3
    db.session.expire_all()
    assert (student("70000002").grade, student("70000002").section) == ("8", "A")


def test_students_import_is_audited_without_names(runner, temp_dir, world):
    result = import_file(runner, "students", write(temp_dir, students_file(world, GOOD_STUDENTS)))
    assert result.exit_code == 0, result.output
    event = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "student.import")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event.detail == {"inserted": 3, "updated": 0, "unchanged": 0, "skipped": 0}
    assert "Pérez" not in str(event.detail)


BAD_STUDENT_ROWS = {
    "impossible date": (
        "70000009,{school},Luis,Díaz Mejía,M,31/02/2011,8,A",
        "línea 4, columna fecha_nacimiento: fecha imposible «31/02/2011»",
    ),
    "unreadable date": (
        "70000009,{school},Luis,Díaz Mejía,M,2011.02.03,8,A",
        "línea 4, columna fecha_nacimiento: fecha no válida «2011.02.03»",
    ),
    "future date": (
        "70000009,{school},Luis,Díaz Mejía,M,2099-01-01,8,A",
        "línea 4, columna fecha_nacimiento: la fecha de nacimiento está en el futuro: «2099-01-01»",
    ),
    "too old": (
        "70000009,{school},Luis,Díaz Mejía,M,1950-05-05,8,A",
        "línea 4, columna fecha_nacimiento: edad imposible para un estudiante",
    ),
    "unknown school": (
        "70000009,99999,Luis,Díaz Mejía,M,2012-05-05,8,A",
        "línea 4, columna codigo_escuela: no existe la escuela «99999»",
    ),
    "bad sex": (
        "70000009,{school},Luis,Díaz Mejía,X,2012-05-05,8,A",
        "línea 4, columna sexo: debe ser F o M, no «X»",
    ),
    "duplicate nie": (
        "70000001,{school},Luis,Díaz Mejía,M,2012-05-05,8,A",
        "línea 4, columna nie: NIE «70000001» repetido: ya aparece en la línea 2",
    ),
    "nie with letters": (
        "7000A009,{school},Luis,Díaz Mejía,M,2012-05-05,8,A",
        "línea 4, columna nie: el NIE debe tener solo dígitos (hasta 20), no «7000A009»",
    ),
    "missing surname": (
        "70000009,{school},Luis,,M,2012-05-05,8,A",
        "línea 4, columna apellidos: falta el valor",
    ),
    "full-width NIE": (
        "９９１００００８,{school},Luis,Díaz Mejía,M,2012-05-05,8,A",
        "línea 4, columna nie: el NIE debe llevar los dígitos 0 a 9 del teclado, no de ancho"
        " completo ni árabes: «９９１００００８»",
    ),
    "Arabic-Indic NIE": (
        "٩٩١٠٠٠٠٩,{school},Luis,Díaz Mejía,M,2012-05-05,8,A",
        "línea 4, columna nie: el NIE debe llevar los dígitos 0 a 9 del teclado",
    ),
    "right-to-left override in a name": (
        "70000009,{school},Luis \u202eoinotnA,Díaz Mejía,M,2012-05-05,8,A",
        "línea 4, columna nombres: tiene un carácter invisible o de control, U+202E"
        " (RIGHT-TO-LEFT OVERRIDE)",
    ),
    "zero-width joiner in a surname": (
        "70000009,{school},Luis,Dí\u200daz Mejía,M,2012-05-05,8,A",
        "línea 4, columna apellidos: tiene un carácter invisible o de control, U+200D"
        " (ZERO WIDTH JOINER)",
    ),
    "directional isolate in a name": (
        "70000009,{school},\u2066Luis\u2069,Díaz Mejía,M,2012-05-05,8,A",
        "línea 4, columna nombres: tiene un carácter invisible o de control, U+2066",
    ),
    "byte order mark inside a name": (
        "70000009,{school},Lu\ufeffis,Díaz Mejía,M,2012-05-05,8,A",
        "línea 4, columna nombres: tiene un carácter invisible o de control, U+FEFF",
    ),
    "tab inside a name": (
        "70000009,{school},Luis\tAlberto,Díaz Mejía,M,2012-05-05,8,A",
        "línea 4, columna nombres: tiene un carácter invisible o de control, U+0009",
    ),
    "line feed inside a quoted name": (
        '70000009,{school},"Luis\nAlberto",Díaz Mejía,M,2012-05-05,8,A',
        "línea 4, columna nombres: tiene un carácter invisible o de control, U+000A",
    ),
    "zero-width space inside a NIE": (
        "7000\u200b0009,{school},Luis,Díaz Mejía,M,2012-05-05,8,A",
        "línea 4, columna nie: tiene un carácter invisible o de control, U+200B",
    ),
}


@pytest.mark.parametrize("case", BAD_STUDENT_ROWS, ids=list(BAD_STUDENT_ROWS))
def test_bad_student_row_refuses_the_whole_file(runner, temp_dir, world, case):
    row, message = BAD_STUDENT_ROWS[case]
    before = count(Student)
    text = students_file(world, [*GOOD_STUDENTS[:2], row])
    result = import_file(runner, "students", write(temp_dir, text))
    assert result.exit_code != 0
    assert message in result.output
    assert count(Student) == before
    assert student("70000002") is None


def test_an_extra_field_on_the_first_row_is_reported_on_its_line_not_as_shifted_columns(
    runner, temp_dir, world
):
    rows = [GOOD_STUDENTS[0] + ",sobra", *GOOD_STUDENTS[1:], GOOD_STUDENTS[2].replace("3,", "4,")]
    rows += [f"7000002{n},{{school}},Ana,Ruiz Paz,F,2014-03-09,6,A" for n in range(6)]
    rows.append("70000031,{school},Ana,Ruiz Paz,F,2014-03-09,6,A,otra,más")
    result = import_file(runner, "students", write(temp_dir, students_file(world, rows)))
    assert result.exit_code != 0
    assert "línea 2: tiene 9 campos y la cabecera 8" in result.output
    assert "línea 12: tiene 10 campos y la cabecera 8" in result.output
    assert "repetido" not in result.output and "no existe la escuela" not in result.output
    assert "columna" not in result.output  # no value is blamed for the shift
    assert student("70000002") is None


def test_every_bad_row_is_reported_with_its_line_and_column(runner, temp_dir, world):
    rows = [
        "９９１００００８,{school},Luis,Díaz Mejía,M,2012-05-05,8,A",
        "70000012,{school},Luis \u202eoinotnA,Díaz Mejía,M,2012-05-05,8,A",
        *GOOD_STUDENTS,
        "70000013,{school},Luis\tAlberto,Díaz\u200bMejía,M,2012-05-05,8,A",
    ]
    before = count(Student)
    result = import_file(runner, "students", write(temp_dir, students_file(world, rows)))
    assert result.exit_code != 0
    for where in (
        "línea 2, columna nie:",
        "línea 3, columna nombres:",
        "línea 7, columna nombres:",
        "línea 7, columna apellidos:",
    ):
        assert where in result.output, where
    assert count(Student) == before
    assert student("70000001") is None


def test_plain_and_quoted_names_without_invisible_characters_pass(app, world):
    text = students_file(world, GOOD_STUDENTS)
    assert validate_students(text.encode()).problems == []
    assert validate_students(text.replace("Ana", '"Ana"').encode()).problems == []


def test_duplicate_nie_reports_both_lines(runner, temp_dir, world):
    text = students_file(world, [*GOOD_STUDENTS, GOOD_STUDENTS[0].replace("Ana María", "Otra")])
    result = import_file(runner, "students", write(temp_dir, text))
    assert "línea 2, columna nie: NIE «70000001» repetido: aparece también en la línea 5" in (
        result.output
    )
    assert "línea 5, columna nie: NIE «70000001» repetido: ya aparece en la línea 2" in (
        result.output
    )


def test_skip_invalid_imports_the_good_students(runner, temp_dir, world):
    bad = "70000009,{school},Luis,Díaz Mejía,M,31/02/2011,8,A"
    text = students_file(world, [GOOD_STUDENTS[0], bad, GOOD_STUDENTS[1]])
    result = import_file(runner, "students", write(temp_dir, text), "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "línea 3, columna fecha_nacimiento: fecha imposible «31/02/2011»" in result.output
    assert "2 registros nuevos" in result.output
    assert student("70000001") is not None
    assert student("70000002") is not None
    assert student("70000009") is None


def test_validation_reports_ages_against_the_given_day(app, world):
    text = students_file(world, ["70000010,{school},Lía,Ríos Paz,F,2020-06-01,1,A"])
    too_young = validate_students(text.encode(), today=date(2021, 6, 1))
    assert [(p.line, p.column) for p in too_young.problems] == [(2, "fecha_nacimiento")]
    assert "(1 años)" in too_young.problems[0].reason
    assert too_young.valid.empty
    fine = validate_students(text.encode(), today=date(2026, 6, 1))
    assert fine.problems == []
    assert fine.valid["birth_date"].tolist() == ["2020-06-01"]
