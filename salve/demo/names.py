"""Word lists for the invented demo country: common Spanish names, combined at random.

No list pairs a given name with a family name: every person in the demo is a random
combination, so none is a real child.
"""

FEMALE_NAMES = (
    "Abigail", "Adriana", "Alejandra", "Alicia", "Ana", "Andrea", "Ángela", "Beatriz",
    "Blanca", "Brenda", "Camila", "Carmen", "Carolina", "Cecilia", "Claudia", "Daniela",
    "Diana", "Elena", "Elizabeth", "Emily", "Esmeralda", "Estefany", "Evelyn", "Fátima",
    "Fernanda", "Gabriela", "Gloria", "Graciela", "Guadalupe", "Iris", "Isabel", "Jacqueline",
    "Jennifer", "Jimena", "Josefina", "Julia", "Karen", "Katherine", "Laura", "Leticia",
    "Lucía", "Luisa", "Marcela", "María", "Mariana", "Marisol", "Marta", "Melissa",
    "Mercedes", "Milagro", "Mónica", "Nathaly", "Noemí", "Patricia", "Paola", "Raquel",
    "Rebeca", "Reina", "Rocío", "Rosa", "Rosario", "Sara", "Silvia", "Sofía", "Sonia",
    "Susana", "Tatiana", "Valeria", "Vanessa", "Verónica", "Victoria", "Wendy", "Ximena",
    "Yanira", "Yesenia", "Zulma",
)  # fmt: skip

MALE_NAMES = (
    "Adolfo", "Alberto", "Alejandro", "Alexander", "Andrés", "Ángel", "Antonio", "Benjamín",
    "Bryan", "Carlos", "César", "Cristian", "Daniel", "David", "Diego", "Eduardo", "Edwin",
    "Elías", "Emanuel", "Enrique", "Ernesto", "Fernando", "Francisco", "Gabriel", "Gerardo",
    "Gustavo", "Héctor", "Hugo", "Iván", "Jaime", "Javier", "Jesús", "Joel", "Jonathan",
    "Jorge", "José", "Josué", "Juan", "Julio", "Kevin", "Leonel", "Luis", "Manuel", "Marco",
    "Mario", "Mateo", "Mauricio", "Miguel", "Moisés", "Nelson", "Óscar", "Pablo", "Pedro",
    "Rafael", "Ramón", "Raúl", "Ricardo", "Roberto", "Rodrigo", "Rubén", "Salvador",
    "Samuel", "Santiago", "Sebastián", "Sergio", "Tomás", "Vladimir", "Walter", "William",
    "Wilfredo", "Xavier", "Yefferson",
)  # fmt: skip

FAMILY_NAMES = (
    "Aguilar", "Alfaro", "Alvarado", "Amaya", "Arévalo", "Argueta", "Ayala", "Barahona",
    "Barrera", "Beltrán", "Bonilla", "Cabrera", "Campos", "Canales", "Cañas", "Carranza",
    "Castillo", "Castro", "Chávez", "Cerna", "Contreras", "Cornejo", "Cruz", "Deras",
    "Díaz", "Dubón", "Escobar", "Espinoza", "Estrada", "Figueroa", "Flores", "Fuentes",
    "Galdámez", "Gálvez", "García", "Girón", "Gómez", "González", "Guardado", "Guevara",
    "Gutiérrez", "Guzmán", "Henríquez", "Hernández", "Herrera", "Jiménez", "Juárez",
    "Lara", "Leiva", "López", "Lozano", "Linares", "Machado", "Marroquín", "Martínez",
    "Mejía", "Meléndez", "Méndez", "Menjívar", "Merino", "Miranda", "Molina", "Morales",
    "Moreno", "Navarrete", "Orellana", "Ortiz", "Osorio", "Pacheco", "Palacios", "Peña",
    "Pérez", "Portillo", "Quintanilla", "Quijano", "Ramírez", "Ramos", "Recinos", "Reyes",
    "Rivas", "Rivera", "Rodríguez", "Romero", "Rosales", "Sánchez", "Sandoval", "Santos",
    "Serrano", "Sorto", "Sosa", "Tobar", "Torres", "Umaña", "Valle", "Vásquez", "Velásquez",
    "Ventura", "Villalta", "Zelaya", "Zepeda",
)  # fmt: skip

#: Saints, patrons and figures that schools are commonly named after.
NAMESAKES = (
    "San José", "San Antonio", "Santa Lucía", "San Francisco", "Santa Teresa", "San Rafael",
    "San Martín", "Santa Rosa", "San Pedro", "San Juan Bosco", "Santa Marta", "San Isidro",
    "San Lorenzo", "Santa Clara", "San Miguel Arcángel", "Nuestra Señora de la Paz",
    "Virgen de Guadalupe", "Francisco Morazán", "José Matías Delgado", "Manuel José Arce",
    "Gerardo Barrios", "Alberto Masferrer", "Salarrué", "Francisco Gavidia",
    "Claudia Lars", "Prudencia Ayala", "José Simeón Cañas", "Rubén Darío",
    "Gabriela Mistral", "Cristóbal Colón", "República de Chile", "República de Panamá",
    "República de Costa Rica", "Profesora Elba Marina Cornejo", "Doctor Ramiro Aguilar",
    "Profesora Concepción Mendoza", "Profesor Saúl Flores", "Maestra Rosa Amelia Guzmán",
)  # fmt: skip

#: Places for rural schools: "Centro Escolar Cantón El Jícaro".
PLACES = (
    "El Jícaro", "Las Flores", "El Zapote", "Los Naranjos", "San Benito", "El Carmen",
    "La Ceiba", "Los Amates", "El Rosario", "Las Pilas", "El Tablón", "Piedra Rayada",
    "El Mojón", "Las Lomas", "El Chaperno", "La Montañita", "Agua Fría", "El Guayabo",
    "Los Mangos", "El Palmar", "La Cuchilla", "Ojo de Agua", "El Sitio", "Las Marías",
    "El Matazano", "Llano Grande", "El Pital", "Los Planes", "La Joya", "El Limón",
    "San Cristóbal", "El Copinol", "Las Cañas", "El Coyolito", "La Bermuda", "Santa Bárbara",
)  # fmt: skip

#: Names that sound like a private school's.
PRIVATE_NAMES = (
    "Colegio Cristiano Fuente de Vida", "Colegio Santa Inés", "Colegio San Benito",
    "Liceo Cristiano Emanuel", "Colegio Bautista Shalom", "Colegio Los Pinos",
    "Liceo San Luis", "Colegio Monte Sión", "Colegio La Esperanza", "Colegio Guadalupano",
    "Colegio Nuevo Amanecer", "Liceo Católico San Ignacio", "Colegio Evangélico Betania",
    "Colegio Jardines del Valle", "Colegio María Auxiliadora de los Andes",
    "Liceo Bilingüe Horizonte", "Colegio Técnico Las Palmas", "Colegio Divino Maestro",
)  # fmt: skip
